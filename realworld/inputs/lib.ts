export type Shape = { kind: "circle"; r: number } | { kind: "square"; side: number };
export const greet = (name: string): string => `hello, ${name}!`;
export const unused = 42;
