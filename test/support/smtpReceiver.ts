// A local mail server in its own process (smtp-server, STARTTLS with a self-signed certificate):
// prints {"ready":true,"port":…} and then one JSON line per message received, parsed by mailparser.
import { once } from "node:events";
import { simpleParser } from "mailparser";
import { generate } from "selfsigned";
import { SMTPServer } from "smtp-server";

const pems = await generate([{ name: "commonName", value: "localhost" }], { keyType: "rsa", keySize: 2048, algorithm: "sha256" });
const server = new SMTPServer({
  key: pems.private,
  cert: pems.cert,
  authOptional: true,
  logger: false,
  onData(stream, session, callback) {
    simpleParser(stream).then((mail) => {
      const to = mail.to && !Array.isArray(mail.to) ? mail.to.value.map((a) => a.address) : [];
      process.stdout.write(`${JSON.stringify({ secure: session.secure, to, subject: mail.subject ?? "", text: mail.text ?? "", html: String(mail.html ?? "") })}\n`);
      callback();
    }, callback);
  },
});
server.listen(0, "127.0.0.1");
await once(server.server, "listening");
process.stdout.write(`${JSON.stringify({ ready: true, port: (server.server.address() as { port: number }).port })}\n`);
