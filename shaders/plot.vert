#version 330 core
// Plot geometry in pixels (origin top-left, y down) with normalised-byte colours.

in vec2 in_pos;
in vec4 in_color;

uniform vec2 u_screen;  // framebuffer size in pixels

out vec4 v_color;

void main() {
    vec2 ndc = in_pos / u_screen * 2.0 - 1.0;
    gl_Position = vec4(ndc.x, -ndc.y, 0.0, 1.0);
    v_color = in_color;
}
