// The interactive embed: one <script type="module" src="https://<service>/static/dist/embed.js">
// defines <fiddle-embed hash="…"> for any page (embedElement.js), and the iframe variant
// /iframe/<hash>?code=1 is that element on a page of the service's own.
// Bundled by esbuild into site/dist/embed.js (`npm run build`).

import { FiddleEmbed } from "./embedElement.js";

if (!customElements.get("fiddle-embed")) customElements.define("fiddle-embed", FiddleEmbed);
