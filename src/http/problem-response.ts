import type { Problem } from '../lib/problem';

export const PROBLEM_TYPE_BASE = 'https://switchyard.dev/problems/';

export function problemResponse(p: Problem, requestId?: string): Response {
  const body = {
    type: `${PROBLEM_TYPE_BASE}${p.code}`,
    title: p.title,
    status: p.status,
    code: p.code,
    detail: p.detail,
    ...p.extensions,
    ...(p.errors ? { errors: p.errors } : {}),
    ...(requestId ? { request_id: requestId } : {}),
  };
  return new Response(JSON.stringify(body), {
    status: p.status,
    headers: { 'content-type': 'application/problem+json', ...(requestId ? { 'x-request-id': requestId } : {}), ...p.headers },
  });
}
