// Parse recorded HTTP answers with the AWS SDK for JavaScript v3, as a JS program calling the server would.
// stdin: one JSON object per line, {"status": 400, "headers": {...}, "body": "<base64>"};
// stdout: one JSON object per line, {"name": ..., "status": ..., "fault": ..., "message": ...}.
import { RekognitionClient, ListCollectionsCommand } from "@aws-sdk/client-rekognition";
import { HttpResponse } from "@smithy/protocol-http";
import { Readable } from "node:stream";
import { createInterface } from "node:readline";

async function parse(recorded) {
  const requestHandler = {
    handle: async () => ({
      response: new HttpResponse({
        statusCode: recorded.status,
        headers: recorded.headers,
        body: Readable.from([Buffer.from(recorded.body, "base64")]),
      }),
    }),
  };
  const client = new RekognitionClient({
    region: "us-east-1",
    endpoint: "http://127.0.0.1:1",
    credentials: { accessKeyId: "AKIDJS", secretAccessKey: "secret" },
    maxAttempts: 1,
    requestHandler,
  });
  try {
    await client.send(new ListCollectionsCommand({}));
    return { name: "OK", status: recorded.status };
  } catch (error) {
    return { name: error.name, status: error.$metadata?.httpStatusCode, fault: error.$fault, message: error.message };
  }
}

for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim()) process.stdout.write(JSON.stringify(await parse(JSON.parse(line))) + "\n");
}
