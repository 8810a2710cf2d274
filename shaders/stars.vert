#version 330 core
// Star field points: world-unit positions, normalised-byte colours, a size uniform.
// Needs ctx.enable(moderngl.PROGRAM_POINT_SIZE) for gl_PointSize to take effect.

in vec2 in_pos;
in vec4 in_color;

uniform vec2 u_scale;       // world units -> clip space (aspect correction)
uniform float u_point_size; // diameter in pixels

out vec4 v_color;

void main() {
    gl_Position = vec4(in_pos * u_scale, 0.0, 1.0);
    gl_PointSize = u_point_size;
    v_color = in_color;
}
