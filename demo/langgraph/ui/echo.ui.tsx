// The echo graph's generative UI component (langgraph.json `ui`), bundled by the pinned server
// and served at /ui/echo. No imports: the server bundles it from its data directory, where no
// node_modules resolve (react stays external, as langgraph-ui makes it).
const card = (props: { text?: string }) => `echo: ${props.text ?? ""}`;

export default { card };
