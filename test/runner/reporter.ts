/**
 * A `node --test` reporter that writes one JSON line per finished test or
 * suite (name, suite path, type, skip/todo, error message) and one per file
 * summary. test/runner/run.ts reads it to check that every declared test
 * reported.
 */
interface TestEventData {
  name: string
  nesting: number
  file?: string
  skip?: string | boolean
  todo?: string | boolean
  details?: { type?: 'suite' | 'test', duration_ms?: number, error?: { message?: string, cause?: unknown } }
  counts?: Record<string, number>
}

export default async function * reporter (source: AsyncIterable<{ type: string, data: TestEventData }>): AsyncGenerator<string> {
  const stack: string[] = []
  for await (const event of source) {
    const data = event.data
    if (event.type === 'test:start') {
      stack.length = data.nesting
      stack.push(data.name)
    } else if (event.type === 'test:pass' || event.type === 'test:fail') {
      const path = [...stack.slice(0, data.nesting), data.name]
      const error = data.details?.error
      const cause = error?.cause as { message?: string } | undefined
      yield JSON.stringify({
        event: event.type === 'test:pass' ? 'pass' : 'fail',
        type: data.details?.type ?? 'test',
        file: data.file,
        path,
        ms: data.details?.duration_ms,
        ...(data.skip !== undefined && data.skip !== false ? { skip: data.skip === true ? 'skipped' : data.skip } : {}),
        ...(data.todo !== undefined && data.todo !== false ? { todo: true } : {}),
        ...(error != null ? { error: cause?.message ?? error.message } : {})
      }) + '\n'
    } else if (event.type === 'test:summary' && data.file !== undefined) {
      yield JSON.stringify({ event: 'summary', file: data.file, counts: data.counts }) + '\n'
    }
  }
}
