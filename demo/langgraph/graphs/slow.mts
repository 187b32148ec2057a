// Emits `count` custom events `delayMs` apart: long, quiet or chatty streams on demand.
import { Annotation, LangGraphRunnableConfig, StateGraph } from "@langchain/langgraph";

const State = Annotation.Root({
  count: Annotation<number>,
  delayMs: Annotation<number>,
  emitted: Annotation<number>,
});

export const graph = new StateGraph(State)
  .addNode("tick", async (state, config: LangGraphRunnableConfig) => {
    const count = state.count ?? 5;
    const delayMs = state.delayMs ?? 100;
    for (let i = 0; i < count; i += 1) {
      if (delayMs > 0) await new Promise((resolve) => setTimeout(resolve, delayMs));
      config.writer?.({ tick: i, at: Date.now() });
    }
    return { emitted: count };
  })
  .addEdge("__start__", "tick")
  .compile();
