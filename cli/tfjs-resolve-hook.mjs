// Node ESM resolve hook for running tfjs-core in plain Node (eval, simulated shoppers, e2e): tfjs-core's ESM
// files and the deep import '@tensorflow/tfjs-core/dist/register_all_gradients' are extensionless, which
// Node's resolver refuses; retry such a specifier with '.js' appended.
export async function resolve(specifier, context, next) {
  const parent = context.parentURL ?? '';
  const deep = specifier.startsWith('@tensorflow/tfjs-core/dist/');
  const inside = parent.includes('/@tensorflow/tfjs-core/dist/') && specifier.startsWith('.');
  if ((deep || inside) && !/\.[cm]?js$/.test(specifier)) {
    try {
      return await next(specifier + '.js', context);
    } catch {
      return next(specifier, context);
    }
  }
  return next(specifier, context);
}
