// A chat agent with no LLM: a fake chat model streams one character per `messages` event,
// which is what split-token masking and per-event latency tests need.
import { FakeListChatModel } from "@langchain/core/utils/testing";
import { MessagesAnnotation, StateGraph } from "@langchain/langgraph";

const ANSWER = "Your card 4111 1111 1111 1111 is on file; contact billing@example.com.";

export const graph = new StateGraph(MessagesAnnotation)
  .addNode("chat", async (state) => {
    // Built per call: FakeListChatModel cycles its responses per instance.
    const model = new FakeListChatModel({ responses: [ANSWER] });
    return { messages: [await model.invoke(state.messages)] };
  })
  .addEdge("__start__", "chat")
  .compile();
