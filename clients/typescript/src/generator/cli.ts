#!/usr/bin/env node
// `ws-controller-client generate <asyncapi.json | http(s)://…/asyncapi.json | ->`: the types
// of the document on stdout.
import { readFile } from "node:fs/promises";
import { generate, GenerateError } from "./generate.js";

const USAGE = "usage: ws-controller-client generate <asyncapi.json | http://host/asyncapi.json | -> > api.ts";

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

async function read(source: string): Promise<string> {
  if (source === "-") return readStdin();
  if (/^https?:\/\//.test(source)) {
    const response = await fetch(source, { signal: AbortSignal.timeout(30_000) });
    if (!response.ok) throw new GenerateError(`GET ${source}: HTTP ${response.status}`);
    return response.text();
  }
  return readFile(source, "utf8");
}

async function main(args: string[]): Promise<number> {
  const [command, source, ...rest] = args;
  if (command !== "generate" || source === undefined || rest.length > 0) {
    process.stderr.write(`${USAGE}\n`);
    return 2;
  }
  let document: unknown;
  try {
    document = JSON.parse(await read(source));
  } catch (error) {
    process.stderr.write(`ws-controller-client: ${source}: ${error instanceof Error ? error.message : String(error)}\n`);
    return 1;
  }
  try {
    process.stdout.write(await generate(document));
    return 0;
  } catch (error) {
    if (!(error instanceof GenerateError)) throw error;
    process.stderr.write(`ws-controller-client: ${source}: ${error.message}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv.slice(2));
