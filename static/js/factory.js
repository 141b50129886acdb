// The Code Factory pages: live sections over a websocket, the spec editor with its preview, confirmations.
//
// The server renders every section; on an event this script fetches the page again and swaps the
// sections marked `data-live` (by id), so there is one place that knows how a run looks. Log lines
// (`factory.log`) are appended directly, since they arrive faster than a page is worth fetching.
(() => {
  "use strict";

  // --- confirmations -----------------------------------------------------------------------------
  document.addEventListener("submit", (event) => {
    const question = (event.submitter && event.submitter.dataset.confirm) || event.target.dataset.confirm;
    if (question && !window.confirm(question)) event.preventDefault();
  });

  // --- live sections -------------------------------------------------------------------------------
  const root = document.querySelector("[data-socket]");
  // Looked up each time: a swapped section brings its own copy of the indicator.
  const liveState = () => document.getElementById("live-state");
  let liveText = "connecting…";
  let liveKind = "off";
  let socket = null;
  let retry = 0;
  let refreshTimer = null;
  let refreshDue = 0;
  let refreshing = false;
  let refreshAgain = false;

  function setLive(text, state) {
    liveText = text;
    liveKind = state;
    const node = liveState();
    if (!node) return;
    node.textContent = text;
    node.dataset.state = state;
  }

  function connect() {
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    socket = new WebSocket(`${scheme}://${location.host}${root.dataset.socket}`);
    socket.addEventListener("open", () => {
      setLive("live", "ok");
      // Whatever happened while the page loaded or the socket was down is in the next render.
      if (retry > 0) scheduleRefresh(0);
      retry = 0;
    });
    socket.addEventListener("message", (message) => handle(JSON.parse(message.data)));
    socket.addEventListener("close", (event) => {
      if (event.code === 4401 || event.code === 4404 || event.code === 4440) {
        setLive("not live: sign in again", "warn");
        return;
      }
      setLive("reconnecting…", "warn");
      retry = Math.min(retry + 1, 6);
      setTimeout(connect, 250 * 2 ** retry);
    });
  }

  function handle(event) {
    if (event.event === "factory.log") {
      // A log line can also mean a decision was recorded (an approval short of the count needed
      // changes no status): catch up once the lines stop coming.
      scheduleRefresh(appendLog(event.stage_id, event.line) ? 1500 : 250);
    } else if (event.event === "factory.ready") {
      scheduleRefresh(0);
    } else if (event.event === "factory.run" || event.event === "factory.stage") {
      scheduleRefresh();
    }
  }

  function appendLog(stageId, line) {
    const pre = document.querySelector(`pre[data-log="${stageId}"]`);
    if (!pre) return false;
    const atBottom = pre.scrollHeight - pre.scrollTop - pre.clientHeight < 24;
    pre.append(document.createTextNode(`${line}\n`));
    if (atBottom) pre.scrollTop = pre.scrollHeight;
    return true;
  }

  // One refresh at the earliest time anyone asked for; later asks within that window share it.
  function scheduleRefresh(delay = 250) {
    const due = Date.now() + delay;
    if (refreshTimer && refreshDue <= due) return;
    clearTimeout(refreshTimer);
    refreshDue = due;
    refreshTimer = setTimeout(() => {
      refreshTimer = null;
      refresh();
    }, delay);
  }

  async function refresh() {
    if (refreshing) {
      refreshAgain = true;
      return;
    }
    refreshing = true;
    try {
      const response = await fetch(location.pathname + location.search, { credentials: "same-origin" });
      if (response.ok) swapSections(new DOMParser().parseFromString(await response.text(), "text/html"));
    } catch (error) {
      setLive("reconnecting…", "warn");
    } finally {
      refreshing = false;
      if (refreshAgain) {
        refreshAgain = false;
        scheduleRefresh();
      }
    }
  }

  function swapSections(doc) {
    document.querySelectorAll("[data-live][id]").forEach((current) => {
      const next = doc.getElementById(current.id);
      if (!next) return;
      if (isBeingEdited(current, next)) return;
      // Keep what the reader opened or closed, and logs they were following at the bottom.
      const open = new Map([...current.querySelectorAll("details[id]")].map((d) => [d.id, d.open]));
      const following = new Set(
        [...current.querySelectorAll("pre[data-log]")]
          .filter((pre) => pre.scrollHeight - pre.scrollTop - pre.clientHeight < 24)
          .map((pre) => pre.dataset.log),
      );
      next.querySelectorAll("details[id]").forEach((d) => {
        if (open.has(d.id)) d.open = open.get(d.id);
      });
      current.replaceWith(next);
      next.querySelectorAll("pre[data-log]").forEach((pre) => {
        if (following.has(pre.dataset.log)) pre.scrollTop = pre.scrollHeight;
      });
    });
    setLive(liveText, liveKind);
  }

  // Someone typing a comment keeps their form, unless the commit it would approve changed.
  function isBeingEdited(current, next) {
    const active = document.activeElement;
    const typing = [...current.querySelectorAll("textarea")].some((t) => t.value.trim() !== "");
    if (!(current.contains(active) && active !== document.body) && !typing) return false;
    const sha = (node) => (node.querySelector("input[name=sha]") || {}).value || null;
    return sha(current) === sha(next);
  }

  if (root) connect();

  // --- the spec editor -----------------------------------------------------------------------------
  const form = document.getElementById("spec-form");
  const editor = document.getElementById("new-spec");
  const newButton = document.getElementById("new-spec-button");
  if (newButton && editor) {
    newButton.addEventListener("click", (event) => {
      event.preventDefault();
      editor.open = true;
      editor.scrollIntoView({ behavior: "smooth", block: "start" });
      const text = document.getElementById("spec-text");
      if (text) text.focus({ preventScroll: true });
    });
  }
  if (!form) return;

  const text = document.getElementById("spec-text");
  const specName = document.getElementById("spec-name");
  const preview = document.getElementById("spec-preview");
  const check = document.getElementById("spec-check");
  const checkState = document.getElementById("spec-check-state");
  const templatesNode = document.getElementById("spec-templates");
  const templates = templatesNode ? JSON.parse(templatesNode.textContent) : [];
  let previewTimer = null;
  let previewSeq = 0;

  const el = (tag, cls, content) => {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (content !== undefined) node.textContent = content;
    return node;
  };

  function schedulePreview(delay = 300) {
    clearTimeout(previewTimer);
    previewTimer = setTimeout(renderPreview, delay);
  }

  async function renderPreview() {
    const seq = ++previewSeq;
    if (!text.value.trim()) {
      check.replaceChildren();
      check.dataset.state = "";
      checkState.textContent = "";
      preview.replaceChildren(el("p", "muted", "The preview appears as you type."));
      return;
    }
    checkState.textContent = "checking…";
    const body = new FormData();
    body.append("spec", text.value);
    body.append("spec_name", specName.value);
    body.append("csrfmiddlewaretoken", form.querySelector("[name=csrfmiddlewaretoken]").value);
    let answer;
    try {
      const response = await fetch(form.dataset.previewUrl, { method: "POST", body, credentials: "same-origin" });
      answer = await response.json();
    } catch (error) {
      if (seq === previewSeq) checkState.textContent = "preview unavailable";
      return;
    }
    if (seq !== previewSeq) return; // a newer keystroke already asked again
    checkState.textContent = "";
    // The server renders markdown and strips it with nh3, the same as every answer in the portal.
    preview.innerHTML = answer.html || '<p class="muted">The body is empty: it becomes the description.</p>';
    showCheck(answer);
  }

  function showCheck(answer) {
    check.replaceChildren();
    if (answer.ok) {
      const spec = answer.spec;
      check.dataset.state = "ok";
      const what = spec.kind === "skill"
        ? `skill in ${spec.domain} · tools ${spec.tools.join(", ")} · ${spec.examples} example(s)`
        : `product · ${spec.endpoints.join(", ")}${spec.rules ? ` · ${spec.rules} rule(s)` : ""}`;
      check.append(el("strong", "", `✓ ${spec.title}`), document.createTextNode(` — ${spec.name}, ${what}`));
      return;
    }
    check.dataset.state = "error";
    check.append(el("strong", "", "Not ready to queue:"));
    const list = el("ul");
    (answer.problems || []).forEach((problem) => {
      const item = el("li");
      const match = problem.match(/^(.*?):(\d+): (.*)$/s);
      if (match) {
        const jump = el("button", "", `line ${match[2]}`);
        jump.type = "button";
        jump.title = "Show this line in the editor";
        jump.addEventListener("click", () => goToLine(Number(match[2])));
        item.append(jump, document.createTextNode(`: ${match[3]}`));
      } else {
        item.textContent = problem;
      }
      list.append(item);
    });
    check.append(list);
  }

  function goToLine(line) {
    const lines = text.value.split("\n");
    const start = lines.slice(0, line - 1).reduce((sum, l) => sum + l.length + 1, 0);
    const end = start + (lines[line - 1] || "").length;
    text.focus();
    text.setSelectionRange(start, end);
    const lineHeight = parseFloat(getComputedStyle(text).lineHeight) || 18;
    text.scrollTop = Math.max(0, (line - 3) * lineHeight);
  }

  document.querySelectorAll("[data-template]").forEach((button) => {
    button.addEventListener("click", () => {
      const template = templates[Number(button.dataset.template)];
      const untouched = !text.value.trim() || templates.some((t) => t.text === text.value);
      if (!untouched && !window.confirm("Replace what you have written with this template?")) return;
      text.value = template.text;
      specName.value = template.file;
      text.focus();
      text.setSelectionRange(0, 0);
      text.scrollTop = 0;
      schedulePreview(0);
    });
  });

  text.addEventListener("input", () => {
    if (!text.value.trim()) specName.value = "";
    schedulePreview();
  });
  text.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) form.requestSubmit();
  });
  if (text.value.trim()) schedulePreview(0);
})();
