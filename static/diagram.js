/* Draws the workflow diagram from the Mermaid source in <pre class="mermaid">. */
/* global mermaid */
if (window.mermaid) {
  mermaid.initialize({ startOnLoad: true, securityLevel: "strict", theme: "neutral" });
}
