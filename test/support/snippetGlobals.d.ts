/**
 * What the documentation's snippets take from their surroundings (test/unit/docSnippets.test.ts):
 * a running bridge, input data, a database, the example service. Declared, so that each snippet
 * is checked for the API it uses, not for the context it leaves out.
 */
declare const bridge: import("snakepit").PythonBridge
declare const rows: number[][]
declare const db: { users: { get(id: unknown): Promise<unknown> } }
declare class ScoringService {
  constructor(bridge: import("snakepit").PythonBridge)
  score(user: string, doc: number): Promise<number>
}
declare const expect: (value: unknown) => { toEqual(expected: unknown): void }
