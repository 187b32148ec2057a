// protocols: LangGraph protocol v2 over WebSocket, carried through the gateway's own pipeline as
// its HTTP twins (design note 010).
export { ProtocolSocketBridge } from "./socketBridge.js";
