// Echoes the last human message back: one character per `messages` event from a fake chat
// model, the same text in a custom event, a tool call whose arguments carry it, and the state.
// Masking tests plant PII and secrets in the input and check every stream mode and /runs/wait.
import { AIMessage } from "@langchain/core/messages";
import { FakeListChatModel } from "@langchain/core/utils/testing";
import { Annotation, LangGraphRunnableConfig, MessagesAnnotation, StateGraph } from "@langchain/langgraph";

const State = Annotation.Root({
  ...MessagesAnnotation.spec,
  echoed: Annotation<string>,
});

function lastHumanText(messages: { getType(): string; content: unknown }[]): string {
  const human = [...messages].reverse().find((message) => message.getType() === "human");
  return typeof human?.content === "string" ? human.content : "";
}

export const graph = new StateGraph(State)
  .addNode("echo", async (state, config: LangGraphRunnableConfig) => {
    const text = lastHumanText(state.messages);
    config.writer?.({ echo: text });
    // Built per call: FakeListChatModel cycles its responses per instance.
    const model = new FakeListChatModel({ responses: [text] });
    const reply = await model.invoke(state.messages);
    const toolCall = new AIMessage({ content: "", tool_calls: [{ id: "call_echo", name: "notify", args: { note: text } }] });
    return { messages: [reply, toolCall], echoed: text };
  })
  .addEdge("__start__", "echo")
  .compile();
