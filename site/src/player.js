// The animation player. The server renders each animated output as a <video> with the browser's
// own controls (templates/_results.html), which work without this module; this module replaces
// them with controls made for a fiddle's frames: play/pause, loop, speed, and a frame scrubber
// (one step per frame of the 60 fps animation). Every control is a native button, checkbox,
// select or range input, so each is reached with Tab and worked with the keyboard; on the video
// itself, Space or K plays and pauses, and the arrow keys (or "," and ".") step one frame.

const SPEEDS = [0.25, 0.5, 1, 2];
let players = 0;

function make(tag, attributes = {}, text = "") {
  const node = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, value);
  if (text) node.textContent = text;
  return node;
}

// The frame on screen: frames are 1/fps long, frame i spans [i/fps, (i+1)/fps).
function frameAt(video, fps, frames) {
  return Math.min(frames - 1, Math.max(0, Math.floor(video.currentTime * fps + 1e-3)));
}

function seekToFrame(video, fps, frame) {
  video.pause();
  // The middle of the frame, so that rounding never shows its neighbour.
  video.currentTime = (frame + 0.5) / fps;
}

function controls(video, fps, frames) {
  const id = `player-${++players}`;
  const bar = make("div", { class: "player-controls", role: "group", "aria-label": "Animation controls" });
  const play = make("button", { type: "button", class: "player-play", "aria-controls": id }, "Play");
  const loopLabel = make("label", { class: "player-loop" });
  const loop = make("input", { type: "checkbox" });
  loop.checked = video.loop;
  loopLabel.append(loop, " Loop");
  const speedLabel = make("label", { class: "player-speed" }, "Speed ");
  const speed = make("select");
  for (const value of SPEEDS) speed.append(make("option", { value: String(value) }, `${value}×`));
  speed.value = "1";
  speedLabel.append(speed);
  const frameLabel = make("label", { class: "player-frame" });
  const scrubber = make("input", {
    type: "range", min: "0", max: String(frames - 1), step: "1", value: "0", "aria-controls": id,
  });
  const shown = make("output", { "aria-live": "off" }, `Frame 0 of ${frames - 1}`);
  frameLabel.append("Frame ", scrubber);
  bar.append(play, loopLabel, speedLabel, frameLabel, shown);
  video.id = video.id || id;
  return { bar, play, loop, speed, scrubber, shown };
}

function wire(video, parts, fps, frames) {
  const { play, loop, speed, scrubber, shown } = parts;
  // While a seek is under way, the frame asked for (events of earlier seeks must not move the
  // scrubber back under the visitor's keys).
  let target = 0;
  const seek = (frame) => {
    target = frame;
    seekToFrame(video, fps, frame);
    showFrame();
  };
  const showFrame = () => {
    const frame = video.seeking ? target : frameAt(video, fps, frames);
    scrubber.value = String(frame);
    shown.textContent = `Frame ${frame} of ${frames - 1}`;
  };
  const showState = () => {
    play.textContent = video.paused ? "Play" : "Pause";
    play.setAttribute("aria-pressed", String(!video.paused));
  };
  const toggle = () => (video.paused ? video.play().catch(() => {}) : video.pause());
  const current = () => (video.seeking ? target : frameAt(video, fps, frames));
  const step = (by) => seek(Math.min(frames - 1, Math.max(0, current() + by)));
  play.addEventListener("click", toggle);
  loop.addEventListener("change", () => { video.loop = loop.checked; });
  speed.addEventListener("change", () => { video.playbackRate = Number(speed.value); });
  scrubber.addEventListener("input", () => seek(Number(scrubber.value)));
  for (const event of ["timeupdate", "seeked", "loadeddata"]) video.addEventListener(event, showFrame);
  for (const event of ["play", "pause", "ended"]) video.addEventListener(event, showState);
  video.addEventListener("click", toggle);
  video.addEventListener("keydown", (event) => {
    const keys = { " ": toggle, k: toggle, ArrowLeft: () => step(-1), ",": () => step(-1), ArrowRight: () => step(1), ".": () => step(1) };
    const action = keys[event.key];
    if (!action) return;
    event.preventDefault();
    action();
  });
  showState();
}

// Gives every server-rendered animation under `root` the player's controls (once each).
export function enhancePlayers(root) {
  for (const video of root.querySelectorAll("video.output-video:not([data-enhanced])")) {
    const fps = Number(video.dataset.fps) || 60;
    const frames = Math.max(1, Number(video.dataset.frames) || 1);
    const parts = controls(video, fps, frames);
    video.dataset.enhanced = "";
    video.removeAttribute("controls");
    video.tabIndex = 0;
    video.after(parts.bar);
    wire(video, parts, fps, frames);
  }
}
