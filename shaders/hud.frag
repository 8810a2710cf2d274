#version 330 core

in vec2 v_uv;
in vec4 v_color;
out vec4 f_color;

uniform sampler2D u_texture;  // texture unit 0

void main() {
    f_color = texture(u_texture, v_uv) * v_color;
}
