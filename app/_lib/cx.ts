/** Joins class names, skipping falsy ones. Plain module: usable from server and client components. */
export function cx(...classes: Array<string | false | null | undefined>): string {
  return classes.filter(Boolean).join(" ");
}
