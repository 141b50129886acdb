// The Aspora console: asks over one websocket, streams answers, follows runs across reconnects.
(() => {
  "use strict";
  const root = document.querySelector(".console");
  if (!root) return;
  const thread = document.getElementById("thread");
  const form = document.getElementById("composer");
  const input = document.getElementById("message");
  const completion = document.getElementById("completion");
  const status = document.getElementById("connection");
  const catalog = JSON.parse(document.getElementById("skill-catalog").textContent);
  const runs = new Map(); // run id -> {el, seq, finished}
  const pending = new Map(); // client id -> bubble element, until the server names the run
  let conversationId = root.dataset.conversation || null;
  let socket = null;
  const outbox = []; // asks and decisions made while the socket was down, sent on reconnect
  let retry = 0;

  const el = (tag, cls, text) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined) node.textContent = text;
    return node;
  };

  // --- runs already on the page (a reload or an opened conversation) -----------------------
  document.querySelectorAll(".bubble.assistant[data-run]").forEach((bubble) => {
    const finished = ["succeeded", "failed", "refused"].includes(bubble.dataset.status);
    runs.set(bubble.dataset.run, { el: bubble, seq: Number(bubble.dataset.seq || 0), finished, text: "" });
  });

  // --- the socket --------------------------------------------------------------------------
  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}/ws/console/`);
    socket.addEventListener("open", () => {
      retry = 0;
      setStatus("connected", "ok");
      // Pick up whatever happened to unfinished runs while we were away.
      runs.forEach((run, id) => {
        if (!run.finished) send({ event: "follow", run_id: id, after: run.seq });
      });
      // Then deliver what the user asked or decided while the socket was down.
      outbox.splice(0).forEach(send);
    });
    socket.addEventListener("message", (message) => handle(JSON.parse(message.data)));
    socket.addEventListener("close", (event) => {
      // 4401: not signed in; 4440: the session ended (signed out elsewhere, deactivated, new password).
      if (event.code === 4401 || event.code === 4440) {
        setStatus("signed out: sign in again", "warn");
        return;
      }
      setStatus("reconnecting…", "warn");
      retry = Math.min(retry + 1, 6);
      setTimeout(connect, 250 * 2 ** retry);
    });
  }
  function send(payload) {
    if (socket && socket.readyState === WebSocket.OPEN) socket.send(JSON.stringify(payload));
    else if (payload.event !== "follow") outbox.push(payload); // follows are rebuilt on open
  }
  function setStatus(text, kind) {
    status.textContent = text;
    status.dataset.state = kind;
  }
  window.asporaConsole = { socket: () => socket, runs, send };

  // --- rendering events ----------------------------------------------------------------------
  function bubbleFor(runId) {
    let run = runs.get(runId);
    if (!run) {
      const turn = el("div", "turn");
      const bubble = assistantBubble();
      turn.append(bubble);
      thread.append(turn);
      run = { el: bubble, seq: 0, finished: false, text: "" };
      runs.set(runId, run);
    }
    run.el.dataset.run = runId;
    return run;
  }
  function assistantBubble() {
    const bubble = el("div", "bubble assistant");
    bubble.append(el("div", "meta-line"), el("div", "tools"), el("div", "answer"));
    bubble.querySelector(".answer").append(el("span", "typing", "Working…"));
    return bubble;
  }
  function summarise(result) {
    if (result && typeof result === "object" && !Array.isArray(result) && result.error) return result.error;
    if (Array.isArray(result)) return `${result.length} row${result.length === 1 ? "" : "s"}`;
    if (typeof result === "string") return result.slice(0, 140);
    return "done";
  }

  function handle(msg) {
    if (msg.event === "run.accepted") {
      const bubble = pending.get(msg.client_id);
      pending.delete(msg.client_id);
      if (!runs.has(msg.run_id)) runs.set(msg.run_id, { el: bubble, seq: 0, finished: false, text: "" });
      else if (bubble && runs.get(msg.run_id).el !== bubble) { runs.get(msg.run_id).el.closest(".turn")?.remove(); runs.get(msg.run_id).el = bubble; }
      runs.get(msg.run_id).el.dataset.run = msg.run_id;
      if (!conversationId) {
        conversationId = msg.conversation_id;
        history.replaceState(null, "", `?c=${conversationId}`);
      }
      return;
    }
    if (msg.event === "run.refused") {
      const bubble = pending.get(msg.client_id);
      pending.delete(msg.client_id);
      if (bubble) {
        bubble.querySelector(".answer").replaceChildren(el("p", "error-text", msg.message));
        bubble.classList.add("refused");
      }
      return;
    }
    if (msg.event === "error") {
      const target = msg.run_id && runs.get(msg.run_id);
      const note = el("p", "error-text", msg.message);
      if (target) {
        target.el.querySelector(".answer").append(note);
      } else {
        const turn = el("div", "turn");
        turn.append(note);
        thread.append(turn);
      }
      return;
    }
    if (!msg.run_id || !msg.event.startsWith("run.")) return;
    // A run we only hear about now (its accept raced the first events): find its bubble.
    if (!runs.has(msg.run_id) && pending.size) {
      const [clientId, bubble] = pending.entries().next().value;
      pending.delete(clientId);
      runs.set(msg.run_id, { el: bubble, seq: 0, finished: false, text: "" });
    }
    const run = bubbleFor(msg.run_id);
    if (msg.seq <= run.seq) return;
    run.seq = msg.seq;
    const data = msg.data || {};
    const answer = run.el.querySelector(".answer");
    switch (msg.event) {
      case "run.started": {
        const meta = run.el.querySelector(".meta-line");
        meta.replaceChildren(el("span", "skill-tag", `/${data.skill}`));
        if (data.offline) meta.append(el("span", "pill pill-muted-dark", "offline model"));
        break;
      }
      case "run.notice": {
        // A budget past its warning line: shown above the answer, kept when the answer streams in.
        const note = el("p", "run-notice", data.message);
        note.setAttribute("role", "status");
        run.el.insertBefore(note, run.el.querySelector(".tools"));
        break;
      }
      case "run.delta": {
        if (!run.streaming) {
          run.streaming = el("div", "streaming");
          answer.replaceChildren(run.streaming);
        }
        run.text += data.text;
        run.streaming.textContent = run.text;
        break;
      }
      case "run.tool_call": {
        const card = el("details", "tool-card running");
        card.dataset.call = data.tool_call_id;
        const summary = el("summary");
        summary.append(el("span", "tool-name", data.name), el("code", "tool-args", JSON.stringify(data.args)), el("span", "tool-status", "running…"));
        card.append(summary);
        run.el.querySelector(".tools").append(card);
        break;
      }
      case "run.tool_result": {
        const card = run.el.querySelector(`.tool-card[data-call="${CSS.escape(data.tool_call_id)}"]`);
        if (!card) break;
        card.classList.remove("running");
        if (!data.ok) card.classList.add("failed");
        card.querySelector(".tool-status").textContent = `${data.ok ? "✓" : "✗"} ${data.duration_ms} ms`;
        card.append(el("p", "tool-result", summarise(data.result)));
        break;
      }
      case "run.confirmation_needed": {
        answer.replaceChildren();
        data.calls.forEach((call) => {
          const card = run.el.querySelector(`.tool-card[data-call="${CSS.escape(call.tool_call_id)}"] .tool-status`);
          if (card) card.textContent = "waiting for you";
        });
        const box = el("div", "confirm-card");
        box.setAttribute("role", "group");
        box.setAttribute("aria-label", "Confirm the action");
        data.calls.forEach((call) => box.append(el("p", "confirm-call", `${call.name} ${JSON.stringify(call.args)}`)));
        const yes = el("button", "button button-primary", "Confirm");
        const no = el("button", "button", "Reject");
        yes.type = no.type = "button";
        yes.addEventListener("click", () => decide(msg.run_id, true, box));
        no.addEventListener("click", () => decide(msg.run_id, false, box));
        box.append(el("p", "muted small", "This changes data. Confirm to go ahead."), yes, no);
        run.el.querySelector(".confirm-slot")?.remove();
        answer.append(box);
        yes.focus();
        break;
      }
      case "run.confirmed": {
        run.el.querySelector(".confirm-card")?.remove();
        answer.replaceChildren(el("p", "muted small", data.approved ? "Confirmed — working…" : "Rejected."));
        run.streaming = null;
        run.text = "";
        break;
      }
      case "run.final": {
        const html = document.createElement("div");
        html.className = "answer-html";
        html.innerHTML = data.answer_html; // sanitised on the server (nh3)
        answer.replaceChildren(html);
        const footer = el("div", "run-footer", `${data.latency_ms} ms · $${Number(data.cost_usd).toFixed(4)}`);
        footer.title = `${data.model} · ${data.input_tokens} in / ${data.output_tokens} out tokens`
          + (data.trace_id ? ` · trace ${data.trace_id}` : "");
        run.el.append(footer);
        run.finished = true;
        break;
      }
      case "run.error": {
        answer.append(el("p", "error-text", data.message));
        run.finished = true;
        break;
      }
    }
    thread.scrollTop = thread.scrollHeight;
  }

  function decide(runId, approve, box) {
    box.querySelectorAll("button").forEach((b) => (b.disabled = true));
    send({ event: "decide", run_id: runId, approve, after: runs.get(runId)?.seq || 0 });
  }

  // --- asking ---------------------------------------------------------------------------------
  function ask(text) {
    const match = text.match(/^\/([a-z0-9-]+)\s*(.*)$/s);
    const skill = match ? match[1] : null;
    const message = match ? match[2] || match[1].replace(/-/g, " ") : text;
    document.getElementById("welcome")?.remove();
    const turn = el("div", "turn");
    const bubble = assistantBubble();
    turn.append(el("div", "bubble user", text), bubble);
    thread.append(turn);
    const clientId = `c${Date.now()}${Math.random().toString(16).slice(2, 6)}`;
    pending.set(clientId, bubble);
    send({ event: "ask", message, skill, conversation_id: conversationId, client_id: clientId });
    thread.scrollTop = thread.scrollHeight;
  }
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    ask(text);
    input.value = "";
    closeCompletion();
  });

  // --- /skill completion and keys --------------------------------------------------------------
  let choices = [];
  let active = 0;
  function openCompletion(prefix) {
    choices = catalog.filter((s) => s.name.startsWith(prefix)).slice(0, 8);
    if (!choices.length) return closeCompletion();
    active = Math.min(active, choices.length - 1);
    completion.replaceChildren(
      ...choices.map((s, i) => {
        const option = el("div", `option${i === active ? " active" : ""}`);
        option.setAttribute("role", "option");
        option.append(el("code", "", `/${s.name}`), el("span", "muted", s.description.split(". ")[0]));
        option.addEventListener("mousedown", (e) => { e.preventDefault(); pick(i); });
        return option;
      })
    );
    completion.hidden = false;
  }
  function closeCompletion() { completion.hidden = true; choices = []; active = 0; }
  function pick(i) {
    input.value = `/${choices[i].name} `;
    closeCompletion();
    input.focus();
  }
  input.addEventListener("input", () => {
    const m = input.value.match(/^\/([a-z0-9-]*)$/);
    m ? openCompletion(m[1]) : closeCompletion();
    input.style.height = "auto";
    input.style.height = `${Math.min(input.scrollHeight, 180)}px`;
  });
  input.addEventListener("keydown", (event) => {
    if (!completion.hidden) {
      if (event.key === "ArrowDown") { active = (active + 1) % choices.length; openCompletion(input.value.slice(1)); event.preventDefault(); return; }
      if (event.key === "ArrowUp") { active = (active - 1 + choices.length) % choices.length; openCompletion(input.value.slice(1)); event.preventDefault(); return; }
      if (event.key === "Tab" || event.key === "Enter") { pick(active); event.preventDefault(); return; }
      if (event.key === "Escape") { closeCompletion(); return; }
    }
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  document.addEventListener("keydown", (event) => {
    if ((event.ctrlKey || event.metaKey) && event.key.toLowerCase() === "k") {
      const search = document.getElementById("skill-search");
      if (search) { event.preventDefault(); search.focus(); }
    } else if (event.key === "/" && document.activeElement !== input && !/INPUT|TEXTAREA/.test(document.activeElement.tagName)) {
      event.preventDefault();
      input.focus();
    }
  });

  // --- the catalog -----------------------------------------------------------------------------
  document.getElementById("skill-search")?.addEventListener("input", (event) => {
    const q = event.target.value.trim().toLowerCase();
    document.querySelectorAll(".skill-card").forEach((card) => {
      card.hidden = q && !card.dataset.text.includes(q);
    });
  });
  document.querySelectorAll(".example").forEach((button) =>
    button.addEventListener("click", () => {
      input.value = button.dataset.example;
      input.focus();
    })
  );

  // Runs that wait for a decision when the page loads get their prompt back from the replay.
  runs.forEach((run) => { if (!run.finished) run.seq = Math.max(0, run.seq - 1); });
  connect();
})();
