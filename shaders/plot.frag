#version 330 core
// Flat colour per vertex (interpolated).

in vec4 v_color;
out vec4 f_color;

void main() {
    f_color = v_color;
}
