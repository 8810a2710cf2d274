#version 330 core

in vec2 v_uv;
in vec4 v_color;
out vec4 f_color;

uniform sampler2D u_texture;  // texture unit 0: the sprite kind's image

void main() {
    vec4 texel = texture(u_texture, v_uv) * v_color;
    if (texel.a < 0.02) {
        discard;  // transparent corners write nothing
    }
    f_color = texel;
}
