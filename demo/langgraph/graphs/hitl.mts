// plan -> approve (interrupt()) -> execute: the graph behind the approval-bypass sequences in
// langgraph-api.md §8.
import { Annotation, interrupt, StateGraph } from "@langchain/langgraph";

const State = Annotation.Root({
  request: Annotation<string>,
  decision: Annotation<string>,
  result: Annotation<string>,
});

export const graph = new StateGraph(State)
  .addNode("plan", (state) => ({ request: state.request ?? "wire $500 to ACME" }))
  .addNode("approve", (state) => {
    const decision = interrupt({ question: "Approve this action?", action: state.request });
    return { decision: String(decision) };
  })
  .addNode("execute", (state) => ({
    result: state.decision === "yes" ? `executed: ${state.request}` : `rejected: ${state.request}`,
  }))
  .addEdge("__start__", "plan")
  .addEdge("plan", "approve")
  .addEdge("approve", "execute")
  .compile();
