// Where the pipeline (src/pipeline.ts) meets each stage: the stages in order, the two
// destinations a request can have, and refusals.
export type { Flight, StageContext, Next, PipelineDeps } from "./flight.js";
export { refuse, refuseConnection } from "./refuse.js";
export { admit, answerApprovalsApi, approve, authorize, classify, forward, identify, maskRequest, openExchange, receive, respond } from "./stages.js";
