// Isnad's one script: the jobs screens follow their jobs live. Every second, the jobs of the
// page not yet finished are asked of /jobs/status.json; their state, stage, error and
// captures are written into their rows. Nothing else on any page needs a script.
"use strict";

function followJobs(table) {
  const source = table.dataset.live;
  const rows = () => Array.from(table.querySelectorAll("tr[data-job]"));
  async function tick() {
    const open = rows().filter((row) => row.dataset.final !== "yes");
    if (!open.length) return;
    const query = open.map((row) => "id=" + encodeURIComponent(row.dataset.job)).join("&");
    try {
      const answer = await fetch(source + "?" + query, {credentials: "same-origin",
                                                        headers: {Accept: "application/json"}});
      if (answer.ok) {
        const data = await answer.json();
        for (const job of data.jobs) update(table, job);
      }
    } catch (error) {
      // The server restarting: the next tick tries again.
    }
    setTimeout(tick, 1000);
  }
  setTimeout(tick, 1000);
}

function update(table, job) {
  const row = table.querySelector(`tr[data-job="${CSS.escape(job.id)}"]`);
  if (!row) return;
  const set = (field, text) => {
    const cell = row.querySelector(`[data-field="${field}"]`);
    if (cell && cell.textContent !== text) cell.textContent = text;
  };
  set("state_label", job.state_label);
  set("stage_label", job.stage_label);
  set("error", job.error ? " — " + job.error : "");
  const badge = row.querySelector('[data-field="state_label"]');
  if (badge) badge.className = "badge state-" + job.state;
  const captures = row.querySelector('[data-field="captures"]');
  if (captures && captures.children.length !== job.captures.length) {
    captures.replaceChildren(...job.captures.flatMap((id) => {
      const link = document.createElement("a");
      link.className = "mono";
      link.href = "/captures/" + encodeURIComponent(id);
      link.textContent = id.slice(0, 13);
      return [link, document.createTextNode(" ")];
    }));
  }
  row.dataset.final = job.final ? "yes" : "no";
}

// A file past the server's upload limit is refused here, in words next to its field, before
// it is sent (the server refuses it too: web.max_upload_bytes).
function boundUpload(input) {
  const said = document.querySelector(`[data-error-for="${CSS.escape(input.name)}"]`);
  input.addEventListener("change", () => {
    const file = input.files[0];
    const tooLarge = file && file.size > Number(input.dataset.maxBytes);
    input.setCustomValidity(tooLarge ? input.dataset.tooLarge : "");
    if (said) {
      said.textContent = tooLarge ? input.dataset.tooLarge : "";
      said.hidden = !tooLarge;
    }
  });
}

document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("table[data-live]").forEach(followJobs);
  document.querySelectorAll("input[type=file][data-max-bytes]").forEach(boundUpload);
});
