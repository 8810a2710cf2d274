#version 330 core
// HUD quads in pixels (origin top-left, y down), textured and tinted.

in vec2 in_pos;    // pixels
in vec2 in_uv;     // texture coordinates
in vec4 in_color;  // tint, normalised bytes

uniform vec2 u_screen;  // framebuffer size in pixels

out vec2 v_uv;
out vec4 v_color;

void main() {
    vec2 ndc = in_pos / u_screen * 2.0 - 1.0;
    gl_Position = vec4(ndc.x, -ndc.y, 0.0, 1.0);
    v_uv = in_uv;
    v_color = in_color;
}
