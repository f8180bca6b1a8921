// handpose web page: camera / video frames to WS /v1/stream, images to POST /v1/predict, hands drawn on a canvas.
// Plain JavaScript, no build step. One frame is in flight at a time: the next frame is captured when the answer
// to the previous one arrives, so the page never queues work on the server. The server keeps the tracking state
// (One Euro smoothing, re-detection) per connection; a new source opens a new connection.
"use strict";
(() => {
  const $ = (id) => document.getElementById(id);
  const params = new URLSearchParams(location.search);
  const intParam = (name, dflt, lo, hi) => {
    const v = parseInt(params.get(name) || "", 10);
    return Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : dflt;
  };
  const MAX_SIDE = intParam("max_side", 640, 64, 4096);   // frames are sent with their longer side at most this
  const QUALITY = intParam("quality", 85, 10, 100) / 100;  // JPEG quality of the frames sent
  const LOG_LIMIT = 20000;                                 // records kept for the JSON download

  const view = $("view");
  const ctx = view.getContext("2d");
  const video = $("video");
  const grab = document.createElement("canvas");           // the frame as sent (downscaled)
  const grabCtx = grab.getContext("2d");
  const shown = document.createElement("canvas");          // the same frame at full size, shown with its answer
  const shownCtx = shown.getContext("2d");

  // what the page did, for people (the stats line), for the download button and for tests
  const demo = {
    source: null,          // "camera", "video" or "image"
    sourceName: null,
    sent: 0,               // frames sent on the stream
    answered: 0,           // answers received
    drawn: 0,              // answers whose landmarks were drawn
    errors: 0,             // answers that were errors
    log: [],               // per answer: {frame, width, height, view_width, view_height, hands: [[x, y] | null] x 21}
    records: [],           // the server's records (the download)
    lastError: null,
  };
  window.handposeDemo = demo;

  let skeleton = null;     // {bones, bone_colors, joint_colors} from /v1/models
  let ws = null;
  let running = false;
  let inFlight = null;     // {frame, t0, width, height}
  let stream = null;       // the camera's MediaStream
  // new camera / video frames: requestVideoFrameCallback says when one is presented, so a frame is sent once; where
  // the browser does not call it back (no support, a hidden element), every answer takes the current frame
  const hasFrameCallback = "requestVideoFrameCallback" in HTMLVideoElement.prototype;
  let frameCallbacks = false;  // the callback has fired for this source
  let framesPresented = 0;
  let framesTaken = -1;
  const answerTimes = [];
  const latencies = [];

  const setStatus = (text, isError = false) => {
    $("status").textContent = text;
    $("status").className = isError ? "error" : "";
  };
  const rgb = (c) => `rgb(${c[0]},${c[1]},${c[2]})`;
  const median = (xs) => {
    if (!xs.length) return NaN;
    const s = [...xs].sort((a, b) => a - b);
    return s[Math.floor(s.length / 2)];
  };

  fetch("/v1/models").then((r) => r.json()).then((info) => {
    skeleton = info.skeleton;
    $("models").textContent = "models: " + info.models.map((m) => `${m.name} (${m.role}, ${m.backend})`).join(", ");
  }).catch(() => { $("models").textContent = "models: unavailable"; });

  // ------------------------------------------------------------------------------------------------ drawing

  function drawHands(hands, sx, sy) {
    const size = Math.max(view.width, view.height);
    const lw = Math.max(2, size / 320);
    const out = [];
    for (const hand of hands) {
      const pts = hand.joints_2d.map((p) => (p && p[0] !== null && p[1] !== null ? [p[0] * sx, p[1] * sy] : null));
      const b = hand.bbox_xyxy;
      if (b && b.every((v) => v !== null)) {
        ctx.strokeStyle = "rgba(255, 255, 255, 0.9)";
        ctx.lineWidth = lw;
        ctx.strokeRect(b[0] * sx, b[1] * sy, (b[2] - b[0]) * sx, (b[3] - b[1]) * sy);
        const parts = [];
        if (hand.handedness) parts.push(hand.handedness);
        if (hand.gesture) parts.push(`${hand.gesture} ${Number(hand.gesture_score).toFixed(2)}`);
        parts.push(`score ${Number(hand.score).toFixed(2)}`);
        const label = parts.join(" · ");
        ctx.font = `${Math.round(Math.max(13, size / 45))}px system-ui, sans-serif`;
        const tw = ctx.measureText(label).width;
        const th = Math.max(13, size / 45) * 1.3;
        const ty = Math.max(0, b[1] * sy - th);
        const tx = Math.max(0, Math.min(b[0] * sx, view.width - tw - 8));   // inside the picture
        ctx.fillStyle = "rgba(0, 0, 0, 0.6)";
        ctx.fillRect(tx, ty, tw + 8, th);
        ctx.fillStyle = "#fff";
        ctx.fillText(label, tx + 4, ty + th * 0.78);
      }
      if (skeleton) {
        skeleton.bones.forEach(([a, c], k) => {
          if (!pts[a] || !pts[c]) return;
          ctx.strokeStyle = rgb(skeleton.bone_colors[k]);
          ctx.lineWidth = lw;
          ctx.beginPath();
          ctx.moveTo(pts[a][0], pts[a][1]);
          ctx.lineTo(pts[c][0], pts[c][1]);
          ctx.stroke();
        });
      }
      pts.forEach((p, j) => {
        if (!p) return;
        const conf = Math.min(1, Math.max(0, Number(hand.confidence[j]) || 0));
        ctx.beginPath();
        ctx.arc(p[0], p[1], lw * (1 + 1.5 * conf), 0, 2 * Math.PI);
        ctx.fillStyle = skeleton ? rgb(skeleton.joint_colors[j]) : "#ff0";
        ctx.strokeStyle = "#fff";
        ctx.lineWidth = 1;
        if (hand.in_image[j]) ctx.fill(); else ctx.stroke();
      });
      out.push(pts.map((p) => (p ? [p[0], p[1]] : null)));
    }
    return out;
  }

  function updateStats(record) {
    const now = performance.now();
    answerTimes.push(now);
    while (answerTimes.length && now - answerTimes[0] > 2000) answerTimes.shift();
    const span = (answerTimes[answerTimes.length - 1] - answerTimes[0]) / 1000;
    $("fps").textContent = answerTimes.length > 1 ? ((answerTimes.length - 1) / span).toFixed(1) : "–";
    $("latency").textContent = latencies.length ? median(latencies.slice(-30)).toFixed(0) : "–";
    const t = record && record.timing_ms;
    $("server").textContent = t ? (t.decode + t.inference).toFixed(1) : "–";
    $("hands").textContent = record && record.hands ? String(record.hands.length) : "–";
    $("frames").textContent = String(demo.answered);
  }

  function keep(record) {
    demo.records.push(record);
    if (demo.records.length > LOG_LIMIT) demo.records.shift();
    $("download").disabled = false;
  }

  // ------------------------------------------------------------------------------------------------ streaming

  function openStream() {
    return new Promise((resolve, reject) => {
      const proto = location.protocol === "https:" ? "wss://" : "ws://";
      const sock = new WebSocket(proto + location.host + "/v1/stream");
      sock.binaryType = "arraybuffer";
      sock.onopen = () => resolve(sock);
      sock.onerror = () => reject(new Error("cannot open the stream"));
      sock.onmessage = onAnswer;
      sock.onclose = (ev) => {
        if (sock === ws && running) {
          stopStreaming();
          setStatus(`stream closed (${ev.code}${ev.reason ? ": " + ev.reason : ""})`, ev.code !== 1000);
        }
      };
    });
  }

  function onAnswer(ev) {
    let record;
    try { record = JSON.parse(ev.data); } catch (e) { record = { error: { message: "unreadable answer" } }; }
    if (!("frame" in record)) return;      // the answer to a control message
    const pending = inFlight;
    inFlight = null;
    demo.answered += 1;
    if (pending) latencies.push(performance.now() - pending.t0);
    if (latencies.length > 300) latencies.shift();
    if (record.error) {
      demo.errors += 1;
      demo.lastError = record.error;
      setStatus(`frame ${record.frame}: ${record.error.message}`, true);
    } else if (pending) {
      ctx.drawImage(shown, 0, 0);
      const drawn = drawHands(record.hands, view.width / record.width, view.height / record.height);
      if (drawn.some((pts) => pts.some((p) => p))) demo.drawn += 1;
      demo.log.push({ frame: record.frame, width: record.width, height: record.height, view_width: view.width,
                      view_height: view.height, hands: drawn });
      if (demo.log.length > LOG_LIMIT) demo.log.shift();
      keep(record);
    }
    updateStats(record);
    if (record.error && record.error.status === 503) {   // the server is busy: wait as long as it asks
      setTimeout(pump, 1000 * (record.error.retry_after_s || 1));
    } else {
      pump();
    }
  }

  function onVideoFrame(_now, meta) {
    frameCallbacks = true;
    framesPresented = meta.presentedFrames;
    if (running) video.requestVideoFrameCallback(onVideoFrame);
    pump();
  }

  function watchFrames() {
    frameCallbacks = false;
    framesPresented = 0;
    framesTaken = -1;
    if (hasFrameCallback) video.requestVideoFrameCallback(onVideoFrame);
  }

  function pump() {
    if (!running || inFlight || !ws || ws.readyState !== WebSocket.OPEN) return;
    if (video.readyState < 2 || !video.videoWidth) { setTimeout(pump, 20); return; }
    if (demo.source === "video" && video.ended) { finishVideo(); return; }
    if (frameCallbacks && framesPresented === framesTaken) return;  // the next presented frame calls pump again
    framesTaken = framesPresented;
    const vw = video.videoWidth, vh = video.videoHeight;
    const scale = Math.min(1, MAX_SIDE / Math.max(vw, vh));
    const w = Math.max(1, Math.round(vw * scale)), h = Math.max(1, Math.round(vh * scale));
    if (view.width !== vw || view.height !== vh) { view.width = vw; view.height = vh; }
    if (shown.width !== vw || shown.height !== vh) { shown.width = vw; shown.height = vh; }
    if (grab.width !== w || grab.height !== h) { grab.width = w; grab.height = h; }
    shownCtx.drawImage(video, 0, 0, vw, vh);
    grabCtx.drawImage(shown, 0, 0, w, h);
    inFlight = { frame: demo.sent, t0: 0, width: w, height: h };
    grab.toBlob((blob) => {
      if (!blob || !running || !ws || ws.readyState !== WebSocket.OPEN) { inFlight = null; return; }
      blob.arrayBuffer().then((buf) => {
        if (!running || !ws || ws.readyState !== WebSocket.OPEN) { inFlight = null; return; }
        inFlight.t0 = performance.now();
        ws.send(buf);
        demo.sent += 1;
      });
    }, "image/jpeg", QUALITY);
  }

  async function startStreaming(source, name) {
    closeSocket();
    resetDemo(source, name);
    try {
      ws = await openStream();
    } catch (e) {
      setStatus(e.message, true);
      return;
    }
    running = true;
    watchFrames();
    $("stop").disabled = false;
    $("camera").disabled = source === "camera";
    $("drop").classList.add("hidden");
    setStatus(source === "camera" ? "tracking the camera" : `tracking ${name}`);
    pump();
  }

  function closeSocket() {
    running = false;
    inFlight = null;
    $("camera").disabled = false;
    if (ws) { const s = ws; ws = null; try { s.close(1000, "stopped"); } catch (e) { /* already closed */ } }
  }

  function stopStreaming() {          // the socket, the camera and the video all stop
    closeSocket();
    if (stream) { stream.getTracks().forEach((t) => t.stop()); stream = null; }
    if (demo.source === "video") video.pause();
    $("stop").disabled = true;
  }

  function finishVideo() {
    stopStreaming();
    setStatus(`end of ${demo.sourceName}: ${demo.answered} frames, landmarks on ${demo.drawn}`);
  }

  function resetDemo(source, name) {
    demo.source = source;
    demo.sourceName = name;
    demo.sent = demo.answered = demo.drawn = demo.errors = 0;
    demo.log.length = 0;
    demo.records.length = 0;
    demo.lastError = null;
    demo.frameCallbacks = () => frameCallbacks;
    latencies.length = 0;
    answerTimes.length = 0;
    $("download").disabled = true;
  }

  async function startCamera() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      setStatus("this browser gives no camera here (the page needs http://localhost or https)", true);
      return;
    }
    try {
      const s = await navigator.mediaDevices.getUserMedia({ video: true, audio: false });
      stopStreaming();
      stream = s;
      video.srcObject = s;
      video.loop = false;
      await video.play();
      await startStreaming("camera", "camera");
    } catch (e) {
      setStatus(`no camera: ${e.message || e}`, true);
    }
  }

  async function startVideo(file) {
    stopStreaming();
    video.srcObject = null;
    video.src = URL.createObjectURL(file);
    video.loop = false;
    try {
      await video.play();
    } catch (e) {
      setStatus(`cannot play ${file.name}: ${e.message || e}`, true);
      return;
    }
    await startStreaming("video", file.name);
  }

  // ------------------------------------------------------------------------------------------------ images

  async function predictImage(file) {
    stopStreaming();
    resetDemo("image", file.name);
    let bitmap;
    try {
      bitmap = await createImageBitmap(file);
    } catch (e) {
      setStatus(`${file.name} is not an image this browser can show`, true);
      return;
    }
    setStatus(`${file.name}: asking the server…`);
    const body = new FormData();
    body.append("image", file, file.name);
    const t0 = performance.now();
    let record;
    try {
      const resp = await fetch("/v1/predict", { method: "POST", body });
      record = await resp.json();
    } catch (e) {
      setStatus(`the server did not answer: ${e.message || e}`, true);
      return;
    }
    latencies.push(performance.now() - t0);
    demo.answered = 1;
    if (record.error) {
      demo.errors = 1;
      demo.lastError = record.error;
      setStatus(`${file.name}: ${record.error.message}`, true);
      updateStats(null);
      return;
    }
    view.width = bitmap.width;
    view.height = bitmap.height;
    ctx.drawImage(bitmap, 0, 0);
    $("drop").classList.add("hidden");
    const drawn = drawHands(record.hands, view.width / record.width, view.height / record.height);
    if (drawn.length) demo.drawn = 1;
    demo.log.push({ frame: 0, width: record.width, height: record.height, view_width: view.width,
                    view_height: view.height, hands: drawn });
    keep(record);
    updateStats(record);
    setStatus(`${file.name}: ${record.hands.length} hand(s)`);
  }

  function openFile(file) {
    if (!file) return;
    if (file.type.startsWith("video/")) startVideo(file);
    else predictImage(file);
  }

  // ------------------------------------------------------------------------------------------------ download

  function payload() {                 // what "Download JSON" saves
    return demo.source === "image" ? demo.records[0] : { source: demo.sourceName, frames: demo.records };
  }
  demo.payload = payload;

  function download() {
    const blob = new Blob([JSON.stringify(payload(), null, 1)], { type: "application/json" });
    const a = document.createElement("a");
    const base = (demo.sourceName || "handpose").replace(/\.[^.]*$/, "");
    a.href = URL.createObjectURL(blob);
    a.download = `${base}.handpose.json`;
    document.body.appendChild(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(a.href), 1000);
  }

  // ------------------------------------------------------------------------------------------------ wiring

  $("camera").addEventListener("click", startCamera);
  $("stop").addEventListener("click", () => { stopStreaming(); setStatus("stopped"); });
  $("download").addEventListener("click", download);
  $("file").addEventListener("change", (ev) => { openFile(ev.target.files[0]); ev.target.value = ""; });
  const stage = $("stage");
  stage.addEventListener("dragover", (ev) => { ev.preventDefault(); stage.classList.add("dragging"); });
  stage.addEventListener("dragleave", () => stage.classList.remove("dragging"));
  stage.addEventListener("drop", (ev) => {
    ev.preventDefault();
    stage.classList.remove("dragging");
    openFile(ev.dataTransfer.files[0]);
  });
  if (params.get("camera") === "1") startCamera();   // ?camera=1 starts the camera at once (kiosks, tests)
})();
