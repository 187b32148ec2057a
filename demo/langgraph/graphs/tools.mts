// A deterministic tool loop: the "model" asks for send_email once, then answers. Run it with
// interrupt_before: ["tools"] to hold the pending tool call.
import { AIMessage, type BaseMessage } from "@langchain/core/messages";
import { tool } from "@langchain/core/tools";
import { MessagesAnnotation, StateGraph } from "@langchain/langgraph";
import { ToolNode } from "@langchain/langgraph/prebuilt";
import { z } from "zod";

const sendEmail = tool(async ({ to }) => `sent to ${to}`, {
  name: "send_email",
  description: "Send an email",
  schema: z.object({ to: z.string(), body: z.string() }),
});

function callModel(state: { messages: BaseMessage[] }) {
  const last = state.messages[state.messages.length - 1];
  if (last?.getType() === "tool") return { messages: [new AIMessage("Email sent.")] };
  return {
    messages: [
      new AIMessage({
        content: "",
        tool_calls: [{ id: "call_1", name: "send_email", args: { to: "bob@example.com", body: "hi" } }],
      }),
    ],
  };
}

export const graph = new StateGraph(MessagesAnnotation)
  .addNode("agent", callModel)
  .addNode("tools", new ToolNode([sendEmail]))
  .addEdge("__start__", "agent")
  .addConditionalEdges("agent", (state) => {
    const last = state.messages[state.messages.length - 1] as AIMessage;
    return last.tool_calls?.length ? "tools" : "__end__";
  })
  .addEdge("tools", "agent")
  .compile();
