#version 330 core
// stagebuf triangles: 2-D positions in world units, normalised-byte colours.

in vec2 in_pos;
in vec4 in_color;

// World units -> clip space; the demo sets it from the window's aspect ratio.
uniform vec2 u_scale;

out vec4 v_color;

void main() {
    gl_Position = vec4(in_pos * u_scale, 0.0, 1.0);
    v_color = in_color;
}
