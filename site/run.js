// Posts the editor's code to /_/run and opens the fiddle's page, or lists the errors.
document.getElementById("run-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const errors = document.getElementById("errors");
  errors.textContent = "Running…";
  const body = {
    code: document.getElementById("code").value,
    options: {
      width: Number(document.getElementById("width").value),
      height: Number(document.getElementById("height").value),
    },
  };
  const response = await fetch("/_/run", {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
  });
  const answer = await response.json();
  if (!response.ok) {
    errors.textContent = answer.error;
    return;
  }
  const problems = answer.compile_errors.map((e) => `line ${e.line}:${e.col} ${e.text}`);
  if (answer.runtime_error) problems.push(answer.runtime_error);
  if (problems.length) {
    errors.textContent = problems.join("\n");
    return;
  }
  window.location.href = `/c/${answer.fiddleHash}`;
});
