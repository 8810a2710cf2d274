#version 330 core
// Instanced sprites: one quad mesh (per vertex: in_corner) drawn once per
// instance record (in_offset, in_color, in_size, in_angle), in pixels.

in vec2 in_corner;  // per vertex: -0.5..0.5

in vec2 in_offset;  // per instance: centre in pixels (origin top-left, y down)
in vec4 in_color;   // per instance: tint, normalised bytes
in float in_size;   // per instance: side in pixels
in float in_angle;  // per instance: rotation in radians

uniform vec2 u_screen;  // framebuffer size in pixels

out vec2 v_uv;
out vec4 v_color;

void main() {
    float c = cos(in_angle);
    float s = sin(in_angle);
    vec2 p = in_offset + mat2(c, s, -s, c) * in_corner * in_size;
    vec2 ndc = p / u_screen * 2.0 - 1.0;
    gl_Position = vec4(ndc.x, -ndc.y, 0.0, 1.0);
    v_uv = in_corner + 0.5;
    v_color = in_color;
}
