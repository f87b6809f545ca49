// The language folders' examples (languages/<id>/example.<ext>), by id: a module that build.mjs
// makes from the files at build time.
declare module "runnel:examples" {
  const examples: Record<string, string>;
  export default examples;
}
