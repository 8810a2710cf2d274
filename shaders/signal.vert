#version 330 core
// One sample of a signal plot: a static vertex (its place in the plot, its
// colour; uploaded once in a mesh) beside this frame's streamed value.

in vec2 in_base;   // static: x across the plot (0..1), the lane's centre down it (0..1)
in vec4 in_color;  // static: the signal's colour (normalised bytes)
in float in_y;     // streamed each frame: the sample, -1..1 (up)

uniform vec2 u_screen;  // framebuffer size in pixels
uniform vec4 u_rect;    // the plot area in pixels: left, top, width, height
uniform float u_amp;    // pixels per unit of signal

out vec4 v_color;

void main() {
    vec2 px = u_rect.xy + in_base * u_rect.zw - vec2(0.0, in_y * u_amp);  // y grows down
    vec2 ndc = px / u_screen * 2.0 - 1.0;
    gl_Position = vec4(ndc.x, -ndc.y, 0.0, 1.0);
    v_color = in_color;
}
