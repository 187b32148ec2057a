// A chat graph whose model is reached through Portcullis egress (docs/egress.md): LangChain's
// OpenAI chat model with its base URL set to the gateway's egress route and, as its "API key",
// the runtime's own Portcullis service-account key. The provider's key is held by the gateway
// only; this process never has it. The run context LangGraph copied from the gateway's
// x-portcullis-run-context header is forwarded, so the gateway links each call to the run.
import type { LangGraphRunnableConfig } from "@langchain/langgraph";
import { MessagesAnnotation, StateGraph } from "@langchain/langgraph";
import { ChatOpenAI } from "@langchain/openai";

async function callModel(state: typeof MessagesAnnotation.State, config: LangGraphRunnableConfig) {
  const baseURL = process.env.PORTCULLIS_EGRESS_MODEL_URL;
  const workloadKey = process.env.PORTCULLIS_WORKLOAD_KEY;
  if (!baseURL || !workloadKey) throw new Error("the model graph needs PORTCULLIS_EGRESS_MODEL_URL and PORTCULLIS_WORKLOAD_KEY (docs/egress.md)");
  const runContext = config.configurable?.["x-portcullis-run-context"];
  const model = new ChatOpenAI({
    model: process.env.PORTCULLIS_EGRESS_MODEL ?? "stand-in",
    apiKey: workloadKey,
    streaming: true,
    maxRetries: 0,
    configuration: { baseURL, defaultHeaders: typeof runContext === "string" ? { "Portcullis-Run-Context": runContext } : {} },
  });
  return { messages: [await model.invoke(state.messages, config)] };
}

export const graph = new StateGraph(MessagesAnnotation).addNode("model", callModel).addEdge("__start__", "model").addEdge("model", "__end__").compile();
