// Node ESM resolve hook: tfjs-core's ESM files (dist/register_all_gradients.js and what it imports) use
// extensionless relative imports that Node cannot resolve; retry such a specifier with '.js' appended.
export async function resolve(specifier, context, next) {
  const parent = context.parentURL ?? '';
  if (
    parent.includes('/@tensorflow/tfjs-core/dist/') &&
    specifier.startsWith('.') &&
    !/\.[cm]?js$/.test(specifier)
  ) {
    try {
      return await next(specifier + '.js', context);
    } catch {
      return next(specifier, context);
    }
  }
  return next(specifier, context);
}
