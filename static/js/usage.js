// The usage dashboard: draws the figures the server embedded (the same JSON as GET /api/usage).
(function () {
  "use strict";
  const data = JSON.parse(document.getElementById("usage-data").textContent);
  const css = getComputedStyle(document.documentElement);
  const color = (name, fallback) => css.getPropertyValue(name).trim() || fallback;
  const brand = color("--brand", "#2f5bea");
  const ok = color("--ok", "#137a4b");
  const danger = color("--danger", "#b42318");
  const warn = color("--warn", "#9a5b00");
  const muted = color("--muted", "#5d6782");
  const usd = (value, digits = 2) =>
    new Intl.NumberFormat("en-US", { style: "currency", currency: "USD", minimumFractionDigits: digits, maximumFractionDigits: digits }).format(value);
  const percent = (rate) => `${(rate * 100).toFixed(rate && rate < 0.1 ? 1 : 0)}%`;

  const seconds = (ms) => (ms >= 1000 ? `${(ms / 1000).toFixed(ms >= 10000 ? 0 : 1)} s` : `${Math.round(ms)} ms`);
  document.querySelectorAll("[data-ms]").forEach((kpi) => {
    if (kpi.dataset.ms !== "") kpi.textContent = seconds(Number(kpi.dataset.ms));
  });
  const errors = document.querySelector('[data-kpi="errors"]');
  errors.textContent = percent(Number(errors.dataset.rate));
  const cost = document.querySelector('[data-kpi="cost"]');
  cost.textContent = usd(Number(cost.dataset.usd), Number(cost.dataset.usd) < 10 ? 4 : 2);

  if (!window.Chart || !document.getElementById("chart-runs")) return;
  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = muted;
  Chart.defaults.plugins.legend.labels.boxWidth = 10;
  Chart.defaults.plugins.legend.labels.boxHeight = 10;
  Chart.defaults.animation.duration = 300;
  Chart.defaults.maintainAspectRatio = false;

  const labels = data.days.map((d) => new Date(`${d.day}T00:00:00`).toLocaleDateString("en-GB", { day: "numeric", month: "short" }));
  const grid = { color: "rgba(23, 32, 58, .06)" };
  const axes = (y = {}) => ({ x: { grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 12 } }, y: { beginAtZero: true, grid, ...y } });

  new Chart(document.getElementById("chart-runs"), {
    type: "bar",
    data: {
      labels,
      datasets: [
        { label: "Answered", data: data.days.map((d) => d.succeeded), backgroundColor: brand, borderRadius: 3, stack: "runs" },
        { label: "Failed", data: data.days.map((d) => d.failed), backgroundColor: danger, borderRadius: 3, stack: "runs" },
        { label: "Refused", data: data.days.map((d) => d.refused), backgroundColor: "#c7cde0", borderRadius: 3, stack: "runs" },
      ],
    },
    options: { scales: { ...axes({ ticks: { precision: 0 } }), x: { stacked: true, grid: { display: false }, ticks: { maxRotation: 0, autoSkipPadding: 12 } } }, plugins: { legend: { position: "top", align: "end" } } },
  });

  new Chart(document.getElementById("chart-latency"), {
    type: "line",
    data: {
      labels,
      datasets: [
        { label: "p50", data: data.days.map((d) => d.p50_ms), borderColor: brand, backgroundColor: brand, cubicInterpolationMode: "monotone", pointRadius: 0, spanGaps: true },
        { label: "p95", data: data.days.map((d) => d.p95_ms), borderColor: warn, backgroundColor: warn, borderDash: [5, 4], cubicInterpolationMode: "monotone", pointRadius: 0, spanGaps: true },
      ],
    },
    options: {
      interaction: { mode: "index", intersect: false },
      scales: axes({ ticks: { callback: (v) => seconds(v) } }),
      plugins: { legend: { position: "top", align: "end" }, tooltip: { callbacks: { label: (c) => `${c.dataset.label}: ${seconds(c.parsed.y)}` } } },
    },
  });

  new Chart(document.getElementById("chart-errors"), {
    type: "line",
    data: {
      labels,
      datasets: [{ label: "Error rate", data: data.days.map((d) => d.error_rate * 100), borderColor: danger, backgroundColor: "rgba(180, 35, 24, .08)", fill: true, cubicInterpolationMode: "monotone", pointRadius: 0 }],
    },
    options: {
      scales: axes({ suggestedMax: 10, ticks: { callback: (v) => `${v}%` } }),
      plugins: { legend: { display: false }, tooltip: { callbacks: { label: (c) => `${c.parsed.y.toFixed(1)}% failed` } } },
    },
  });

  new Chart(document.getElementById("chart-cost"), {
    type: "bar",
    data: { labels, datasets: [{ label: "Cost", data: data.days.map((d) => Number(d.cost_usd)), backgroundColor: ok, borderRadius: 3 }] },
    options: {
      scales: axes({ ticks: { callback: (v) => usd(v) } }),
      plugins: { legend: { display: false }, tooltip: { callbacks: { label: (c) => usd(c.parsed.y, 4) } } },
    },
  });

  // Top skills: one row of bars per group, scaled to the period's busiest skill.
  function topList(target, groups, key) {
    const box = document.getElementById(target);
    const busiest = Math.max(1, ...groups.flatMap((g) => g.skills.map((s) => s.runs)));
    if (!groups.length) {
      box.append(Object.assign(document.createElement("p"), { className: "empty", textContent: "No skill ran in this period." }));
      return;
    }
    for (const group of groups) {
      const section = document.createElement("div");
      section.className = "top-group";
      section.append(Object.assign(document.createElement("h3"), { textContent: group[key] }));
      for (const skill of group.skills) {
        const row = document.createElement("div");
        row.className = "top-row";
        const name = Object.assign(document.createElement("span"), { className: "top-name", textContent: skill.skill });
        const bar = document.createElement("span");
        bar.className = "top-bar";
        const fill = document.createElement("span");
        fill.style.width = `${Math.max(2, (skill.runs / busiest) * 100)}%`;
        bar.append(fill);
        const figures = Object.assign(document.createElement("span"), { className: "top-figures", textContent: `${skill.runs} · ${usd(Number(skill.cost_usd))}` });
        row.append(name, bar, figures);
        section.append(row);
      }
      box.append(section);
    }
  }
  topList("top-domains", data.top_skills_by_domain, "domain");
  topList("top-teams", data.top_skills_by_team, "team");
})();
