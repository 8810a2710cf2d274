#version 330 core
// A round point with a soft rim, so that stars are discs rather than squares.

in vec4 v_color;
out vec4 f_color;

void main() {
    float r = length(gl_PointCoord - vec2(0.5)) * 2.0;  // 0 at the centre, 1 at the rim
    if (r > 1.0) {
        discard;
    }
    f_color = vec4(v_color.rgb, v_color.a * (1.0 - smoothstep(0.6, 1.0, r)));
}
