// stagebuf's page: draws the frames a Python process stages, with WebGL2.
//
// The process sends one binary message per frame (see stagebuf/web/_messages.py):
// the objects this page lacks (programs, textures, buffers, recorded frames) and
// the frame's commands (clears and renders). Objects are kept until the process
// says they were released; the newest commands are drawn at the next animation
// frame, so a page that falls behind skips frames instead of queueing them.
// Nothing is loaded from anywhere but this page's own server.

const query = new URLSearchParams(location.search);
const token = query.get("token") || new URL(import.meta.url).searchParams.get("token");
const canvas = document.getElementById("view");
const statusLine = document.getElementById("status");
const gl = canvas.getContext("webgl2", {
  antialias: false,           // pixels equal to a plain GL framebuffer's
  preserveDrawingBuffer: true,  // what is shown can be read back (tests, screenshots)
  premultipliedAlpha: false,
  alpha: true,
  depth: true,
  stencil: false,
});

const FRAME = -1;  // an attribute set or element buffer in the frame's own data
const MAGIC = 0x31574253;  // "SBW1", little-endian
const INDEX_SIZES = { 0x1403: 2, 0x1405: 4 };
const BLEND = 1, DEPTH_TEST = 2, CULL_FACE = 4, RASTERIZER_DISCARD = 8;

const objects = new Map();  // id -> program, texture, buffer or frame
let latest = null;          // the newest frame's header: what to draw
let scheduled = false;
let socket = null;
let vao = null;
let enabled = new Set();    // vertex attribute locations enabled in the vertex array

// What tests and the benchmark read (through the DevTools protocol).
const page = {
  connected: false,
  seq: -1,          // the newest frame received
  drawnSeq: -1,     // the newest frame drawn
  drawn: 0,         // frames drawn
  received: 0,      // frame messages received
  bytes: 0,         // bytes received
  errors: [],       // what WebGL refused
  get objects() { return objects.size; },  // objects held (programs, textures, buffers, frames)
  readPixels() {
    const w = gl.drawingBufferWidth, h = gl.drawingBufferHeight;
    const pixels = new Uint8Array(w * h * 4);
    gl.readPixels(0, 0, w, h, gl.RGBA, gl.UNSIGNED_BYTE, pixels);
    let text = "";
    for (let i = 0; i < pixels.length; i += 0x8000) {
      text += String.fromCharCode.apply(null, pixels.subarray(i, i + 0x8000));
    }
    return { width: w, height: h, rgba: btoa(text) };  // rows bottom-up, as GL reads them
  },
};
window.stagebuf = page;

function report(text) {
  page.errors.push(text);
  if (page.errors.length > 20) page.errors.shift();
  console.error("stagebuf: " + text);
  if (socket && socket.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify({ type: "error", text: String(text).slice(0, 2000) }));
  }
}

// -- the connection ---------------------------------------------------------

function connect() {
  const scheme = location.protocol === "https:" ? "wss" : "ws";
  const suffix = token ? "?token=" + encodeURIComponent(token) : "";
  socket = new WebSocket(`${scheme}://${location.host}/ws${suffix}`);
  socket.binaryType = "arraybuffer";
  socket.onopen = () => { page.connected = true; showStatus(); };
  socket.onmessage = (event) => {
    try {
      receive(event.data);
    } catch (err) {
      // Start again from nothing: a new connection is sent everything it needs.
      report("bad frame message: " + (err && err.stack || err));
      socket.close();
    }
  };
  socket.onclose = () => {
    // The server sends everything again to a new connection: start from nothing.
    page.connected = false;
    forgetAll();
    showStatus();
    setTimeout(connect, 500);
  };
}

function receive(buffer) {
  if (!(buffer instanceof ArrayBuffer)) throw new Error("a text message");
  const view = new DataView(buffer);
  if (view.getUint32(0, true) !== MAGIC) throw new Error("not a stagebuf frame");
  const length = view.getUint32(4, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 8, length)));
  let start = 8 + length;
  start += (8 - (start % 8)) % 8;
  const block = (span) => new Uint8Array(buffer, start + span[0], span[1]);
  for (const id of header.deletes) forget(id);
  for (const def of header.defs) define(def, block);
  page.seq = header.seq;
  page.received += 1;
  page.bytes += buffer.byteLength;
  latest = header;
  if (!scheduled) {
    scheduled = true;
    requestAnimationFrame(drawLatest);
  }
}

// -- objects ------------------------------------------------------------------

function define(def, block) {
  const old = objects.get(def.id);
  switch (def.type) {
    case "program":
      if (old) forget(def.id);
      objects.set(def.id, makeProgram(def));
      break;
    case "texture":
      objects.set(def.id, makeTexture(def, block(def.blocks[0]), old));
      break;
    case "buffer":
      // WebGL fixes a buffer's kind (vertices or indices) at its first bind: the GL
      // buffer is made when a draw first uses it.
      if (old && old.gl) gl.deleteBuffer(old.gl);
      objects.set(def.id, { type: "buffer", data: block(def.blocks[0]), gl: null });
      break;
    case "frame":
      objects.set(def.id, makeFrame(def, block, old));
      break;
    default:
      throw new Error("unknown object type " + def.type);
  }
}

function forget(id) {
  const obj = objects.get(id);
  if (!obj) return;
  objects.delete(id);
  if (obj.type === "program" && obj.program) gl.deleteProgram(obj.program);
  if (obj.type === "texture") gl.deleteTexture(obj.gl);
  if (obj.type === "buffer" && obj.gl) gl.deleteBuffer(obj.gl);
  if (obj.type === "frame") {
    gl.deleteBuffer(obj.vbo);
    gl.deleteBuffer(obj.ibo);
  }
}

function forgetAll() {
  for (const id of Array.from(objects.keys())) forget(id);
  latest = null;
}

function compile(kind, source, label) {
  const shader = gl.createShader(kind);
  gl.shaderSource(shader, source);
  gl.compileShader(shader);
  if (!gl.getShaderParameter(shader, gl.COMPILE_STATUS)) {
    const log = gl.getShaderInfoLog(shader);
    gl.deleteShader(shader);
    throw new Error(`the ${label} does not compile as GLSL ES 3.00: ${log}`);
  }
  return shader;
}

function makeProgram(def) {
  const out = { type: "program", program: null, uniforms: new Map(), current: new Map() };
  try {
    const vs = compile(gl.VERTEX_SHADER, def.vs, "vertex shader");
    const fs = compile(gl.FRAGMENT_SHADER, def.fs, "fragment shader");
    const program = gl.createProgram();
    gl.attachShader(program, vs);
    gl.attachShader(program, fs);
    // The locations the Python side assigned (it points attributes at them).
    for (const [name, location] of Object.entries(def.locations)) {
      gl.bindAttribLocation(program, location, name);
    }
    gl.linkProgram(program);
    gl.deleteShader(vs);
    gl.deleteShader(fs);
    if (!gl.getProgramParameter(program, gl.LINK_STATUS)) {
      const log = gl.getProgramInfoLog(program);
      gl.deleteProgram(program);
      throw new Error("the program does not link: " + log);
    }
    const count = gl.getProgramParameter(program, gl.ACTIVE_UNIFORMS);
    for (let i = 0; i < count; i++) {
      const info = gl.getActiveUniform(program, i);
      const name = info.name.endsWith("[0]") ? info.name.slice(0, -3) : info.name;
      out.uniforms.set(name, {
        location: gl.getUniformLocation(program, info.name),
        type: info.type,
      });
    }
    out.program = program;
  } catch (err) {
    report(String(err.message || err));
  }
  return out;
}

const TEXTURE_FORMATS = {
  1: ["R8", "RED"], 2: ["RG8", "RG"], 3: ["RGB8", "RGB"], 4: ["RGBA8", "RGBA"],
};

function makeTexture(def, data, old) {
  const texture = old && old.type === "texture" ? old.gl : gl.createTexture();
  const [internal, format] = TEXTURE_FORMATS[def.components];
  gl.activeTexture(gl.TEXTURE0);
  gl.bindTexture(gl.TEXTURE_2D, texture);
  gl.pixelStorei(gl.UNPACK_ALIGNMENT, 1);
  gl.texImage2D(gl.TEXTURE_2D, 0, gl[internal], def.size[0], def.size[1], 0, gl[format],
    gl.UNSIGNED_BYTE, data);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MIN_FILTER, def.filter[0]);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_MAG_FILTER, def.filter[1]);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_S, def.repeat[0] ? gl.REPEAT : gl.CLAMP_TO_EDGE);
  gl.texParameteri(gl.TEXTURE_2D, gl.TEXTURE_WRAP_T, def.repeat[1] ? gl.REPEAT : gl.CLAMP_TO_EDGE);
  if (def.mipmaps) gl.generateMipmap(gl.TEXTURE_2D);
  gl.bindTexture(gl.TEXTURE_2D, null);
  return { type: "texture", gl: texture };
}

function makeFrame(def, block, old) {
  const frame = old && old.type === "frame"
    ? old
    : { type: "frame", vbo: gl.createBuffer(), ibo: gl.createBuffer() };
  frame.formats = def.formats;
  frame.draws = def.draws;
  if (vao) gl.bindVertexArray(null);  // the index binding below must not land in a vertex array
  const vertices = block(def.blocks[0]);
  gl.bindBuffer(gl.ARRAY_BUFFER, frame.vbo);
  gl.bufferData(gl.ARRAY_BUFFER, vertices.byteLength ? vertices : 4, gl.STREAM_DRAW);
  const indices = block(def.blocks[1]);
  gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, frame.ibo);
  gl.bufferData(gl.ELEMENT_ARRAY_BUFFER, indices.byteLength ? indices : 4, gl.STREAM_DRAW);
  gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER, null);
  return frame;
}

function bufferFor(id, target) {
  const buffer = objects.get(id);
  if (!buffer || buffer.type !== "buffer") return null;
  if (!buffer.gl) {
    buffer.gl = gl.createBuffer();
    gl.bindBuffer(target, buffer.gl);
    gl.bufferData(target, buffer.data, gl.STATIC_DRAW);
    buffer.data = null;
  }
  return buffer.gl;
}

// -- drawing --------------------------------------------------------------------

function drawLatest() {
  scheduled = false;
  const header = latest;
  if (!header) return;
  const [width, height] = header.size;
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width;
    canvas.height = height;
  }
  if (!vao) vao = gl.createVertexArray();
  gl.bindVertexArray(vao);
  for (const command of header.commands) {
    if (command.op === "clear") clear(command);
    else if (command.op === "render") render(command);
  }
  gl.bindVertexArray(null);
  page.drawnSeq = header.seq;
  page.drawn += 1;
  if (socket && socket.readyState === WebSocket.OPEN) {
    socket.send(JSON.stringify({ type: "drawn", seq: header.seq }));
  }
  showStatus();
}

function clear(command) {
  const [r, g, b, a] = command.color.map(Number);
  gl.colorMask(true, true, true, true);
  gl.depthMask(true);
  gl.disable(gl.RASTERIZER_DISCARD);
  gl.clearColor(r, g, b, a);
  gl.clearDepth(command.depth);
  gl.clear(gl.COLOR_BUFFER_BIT | gl.DEPTH_BUFFER_BIT);
}

function setFlag(flag, on) {
  if (on) gl.enable(flag); else gl.disable(flag);
}

function render(command) {
  const frame = objects.get(command.frame);
  if (!frame || frame.type !== "frame") return;
  const [x, y, w, h] = command.viewport;
  gl.viewport(x, y, w, h);
  setFlag(gl.BLEND, command.flags & BLEND);
  setFlag(gl.DEPTH_TEST, command.flags & DEPTH_TEST);
  setFlag(gl.CULL_FACE, command.flags & CULL_FACE);
  setFlag(gl.RASTERIZER_DISCARD, command.flags & RASTERIZER_DISCARD);
  const [sc, dc, sa, da] = command.blend;
  gl.blendFuncSeparate(sc, dc, sa, da);
  gl.blendEquationSeparate(command.equation[0], command.equation[1]);
  for (const [unit, id] of Object.entries(command.units)) bindTexture(Number(unit), id);
  for (const draw of frame.draws) drawOne(draw, frame, command);
}

function bindTexture(unit, id) {
  const texture = objects.get(id);
  gl.activeTexture(gl.TEXTURE0 + unit);
  gl.bindTexture(gl.TEXTURE_2D, texture && texture.type === "texture" ? texture.gl : null);
}

function drawOne(draw, frame, command) {
  const program = objects.get(draw.p);
  if (!program || !program.program) return;  // reported when it failed to build
  gl.useProgram(program.program);
  const own = command.values[draw.p] || {};
  for (const [name, uniform] of program.uniforms) {
    const value = draw.u && name in draw.u ? draw.u[name] : own[name];
    if (value !== undefined && program.current.get(name) !== value) {
      setUniform(uniform, value);
      program.current.set(name, value);
    }
  }
  if (draw.t) for (const [unit, id] of Object.entries(draw.t)) bindTexture(Number(unit), id);
  const used = new Set();
  for (const [format, source, offset] of draw.a) {
    const { attrs, stride, divisor } = frame.formats[format];
    const buffer = source === FRAME ? frame.vbo : bufferFor(source, gl.ARRAY_BUFFER);
    gl.bindBuffer(gl.ARRAY_BUFFER, buffer);
    for (const [location, components, type, normalized, integer, at] of attrs) {
      if (!enabled.has(location)) {
        gl.enableVertexAttribArray(location);
        enabled.add(location);
      }
      if (integer) gl.vertexAttribIPointer(location, components, type, stride, offset + at);
      else gl.vertexAttribPointer(location, components, type, !!normalized, stride, offset + at);
      gl.vertexAttribDivisor(location, divisor);
      used.add(location);
    }
  }
  for (const location of enabled) {
    if (!used.has(location)) {
      gl.disableVertexAttribArray(location);
      enabled.delete(location);
    }
  }
  const mode = command.mode === null ? draw.m : command.mode;
  const elements = draw.e;
  let indexType = 0, indexSize = 0, indexOffset = 0;
  if (elements) {
    const [source, type, offset] = elements;
    gl.bindBuffer(gl.ELEMENT_ARRAY_BUFFER,
      source === FRAME ? frame.ibo : bufferFor(source, gl.ELEMENT_ARRAY_BUFFER));
    indexType = type;
    indexSize = INDEX_SIZES[type];
    indexOffset = offset;
  }
  if (command.mode !== null && draw.r) {
    // render(mode=): merged ranges one by one, so primitives never join across them.
    for (const [first, count] of draw.r) {
      if (!count) continue;
      if (elements) gl.drawElements(mode, count, indexType, first * indexSize);
      else gl.drawArrays(mode, first, count);
    }
  } else if (draw.n !== undefined) {
    if (elements) gl.drawElementsInstanced(mode, draw.c, indexType, indexOffset, draw.n);
    else gl.drawArraysInstanced(mode, draw.f, draw.c, draw.n);
  } else if (elements) {
    gl.drawElements(mode, draw.c, indexType, indexOffset);
  } else {
    gl.drawArrays(mode, draw.f, draw.c);
  }
}

function setUniform(uniform, value) {
  const { location, type } = uniform;
  // Numbers; "NaN" and "Infinity" come as strings (JSON has no such numbers).
  const values = (Array.isArray(value) ? value : [value]).map(Number);
  switch (type) {
    case gl.FLOAT: gl.uniform1fv(location, values); break;
    case gl.FLOAT_VEC2: gl.uniform2fv(location, values); break;
    case gl.FLOAT_VEC3: gl.uniform3fv(location, values); break;
    case gl.FLOAT_VEC4: gl.uniform4fv(location, values); break;
    case gl.INT: case gl.BOOL: gl.uniform1iv(location, values); break;
    case gl.INT_VEC2: case gl.BOOL_VEC2: gl.uniform2iv(location, values); break;
    case gl.INT_VEC3: case gl.BOOL_VEC3: gl.uniform3iv(location, values); break;
    case gl.INT_VEC4: case gl.BOOL_VEC4: gl.uniform4iv(location, values); break;
    case gl.UNSIGNED_INT: gl.uniform1uiv(location, values); break;
    case gl.UNSIGNED_INT_VEC2: gl.uniform2uiv(location, values); break;
    case gl.UNSIGNED_INT_VEC3: gl.uniform3uiv(location, values); break;
    case gl.UNSIGNED_INT_VEC4: gl.uniform4uiv(location, values); break;
    case gl.FLOAT_MAT2: gl.uniformMatrix2fv(location, false, values); break;
    case gl.FLOAT_MAT3: gl.uniformMatrix3fv(location, false, values); break;
    case gl.FLOAT_MAT4: gl.uniformMatrix4fv(location, false, values); break;
    case gl.FLOAT_MAT2x3: gl.uniformMatrix2x3fv(location, false, values); break;
    case gl.FLOAT_MAT2x4: gl.uniformMatrix2x4fv(location, false, values); break;
    case gl.FLOAT_MAT3x2: gl.uniformMatrix3x2fv(location, false, values); break;
    case gl.FLOAT_MAT3x4: gl.uniformMatrix3x4fv(location, false, values); break;
    case gl.FLOAT_MAT4x2: gl.uniformMatrix4x2fv(location, false, values); break;
    case gl.FLOAT_MAT4x3: gl.uniformMatrix4x3fv(location, false, values); break;
    default: gl.uniform1iv(location, values);  // samplers: a texture unit
  }
}

// -- the status line ------------------------------------------------------------

let lastStatus = 0, lastDrawn = 0, lastBytes = 0, fps = 0, rate = 0;

function showStatus() {
  const now = performance.now();
  if (now - lastStatus < 500 && page.connected) return;
  const seconds = (now - lastStatus) / 1000;
  if (lastStatus) {
    fps = (page.drawn - lastDrawn) / seconds;
    rate = (page.bytes - lastBytes) / seconds / 1e6;
  }
  lastStatus = now;
  lastDrawn = page.drawn;
  lastBytes = page.bytes;
  statusLine.textContent = page.connected
    ? `stagebuf · frame ${page.drawnSeq} · ${fps.toFixed(1)} fps · ${rate.toFixed(2)} MB/s`
    : "stagebuf · disconnected: reconnecting…";
}

if (!gl) {
  statusLine.textContent = "stagebuf: this browser has no WebGL2";
  page.errors.push("no WebGL2");
} else {
  connect();
}
