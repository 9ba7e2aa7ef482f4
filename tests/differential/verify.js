// The reference side of tests/test_differential.py: verify header pairs with aws-jwt-verify.
//
// stdin:  one JSON line of configuration, then one JSON line per case: {"id", "alb", "access"}.
// stdout: one JSON line per case: {"id", "alb", "access"}, each "accept" or "<Error>: <message>"
//         (access: null when the access token is opaque).
//
// The verifiers are configured as in production (ARN, issuer, client, graceSeconds 0), the
// access token's by config.access: "cognito" (CognitoJwtVerifier: pool, client, tokenUse
// "access"), "jwt" (JwtVerifier, another provider's: issuer, audience, jwksUri) or "opaque"
// (not a JWT: no verifier, and "access" is null). Only two things are replaced: the clock, so
// both sides share one instant, and the key fetcher, which serves the production key URLs from
// the loopback key server and refuses any other.
"use strict";

const readline = require("node:readline");
const { AlbJwtVerifier, CognitoJwtVerifier, JwtVerifier } = require("aws-jwt-verify");
const { AlbJwksCache } = require("aws-jwt-verify/alb-cache");
const { SimpleJwksCache } = require("aws-jwt-verify/jwk");

// redirects: {AWS URL prefix: loopback URL prefix}. Returns the body as an ArrayBuffer, as
// aws-jwt-verify's own fetcher does.
function loopbackFetcher(redirects) {
  return {
    async fetch(uri) {
      const from = Object.keys(redirects).find((prefix) => uri.startsWith(prefix));
      if (from === undefined) {
        throw new Error(`refused to fetch ${uri}: not a redirected AWS key URL`);
      }
      const response = await fetch(redirects[from] + uri.slice(from.length));
      if (response.status !== 200) {
        throw new Error(`${uri}: status ${response.status}`);
      }
      return response.arrayBuffer();
    },
  };
}

function verifiers(config) {
  const fetcher = loopbackFetcher(config.redirects);
  const alb = AlbJwtVerifier.create(
    { albArn: config.albArn, issuer: config.issuer, clientId: config.clientId, graceSeconds: 0 },
    { jwksCache: new AlbJwksCache({ fetcher }) },
  );
  return { alb, access: accessVerifier(config, fetcher) };
}

function accessVerifier(config, fetcher) {
  const { kind } = config.access;
  const jwksCache = new SimpleJwksCache({ fetcher });
  if (kind === "cognito") {
    return CognitoJwtVerifier.create(
      {
        userPoolId: config.access.userPoolId,
        tokenUse: "access",
        clientId: config.clientId,
        graceSeconds: 0,
      },
      { jwksCache },
    );
  }
  if (kind === "jwt") {
    const { issuer, audience, jwksUri } = config.access;
    return JwtVerifier.create({ issuer, audience, jwksUri, graceSeconds: 0 }, { jwksCache });
  }
  if (kind === "opaque") {
    return null;
  }
  throw new Error(`unknown access token kind ${kind}`);
}

async function outcome(verifier, token) {
  try {
    await verifier.verify(token);
    return "accept";
  } catch (error) {
    return `${error.constructor.name}: ${String(error.message).slice(0, 200)}`;
  }
}

async function main() {
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  let verify;
  const results = [];
  for await (const line of lines) {
    if (verify === undefined) {
      const config = JSON.parse(line);
      const now = config.nowMillis;
      Date.now = () => now; // aws-jwt-verify reads the time only through Date.now()
      verify = verifiers(config);
      continue;
    }
    // One case at a time, in order: the key caches then evolve the same way on every run.
    const { id, alb, access } = JSON.parse(line);
    results.push(
      JSON.stringify({
        id,
        alb: await outcome(verify.alb, alb),
        access: verify.access === null ? null : await outcome(verify.access, access),
      }),
    );
  }
  process.stdout.write(results.join("\n") + "\n");
}

main().catch((error) => {
  console.error(error);
  process.exit(1);
});
