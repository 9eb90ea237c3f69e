/** Answers of a pure function kept for reuse, at most `limit` of them (all dropped at once when full: callers choose the inputs). */
export function remember<V>(limit: number, compute: (key: string) => V): (key: string) => V {
  const answers = new Map<string, V>()
  return (key) => {
    let answer = answers.get(key)
    if (answer === undefined) {
      if (answers.size >= limit) answers.clear()
      answers.set(key, (answer = compute(key)))
    }
    return answer
  }
}
