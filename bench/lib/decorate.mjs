/**
 * Decorators applied by hand, so the bench apps are plain ESM that Node runs as-is (no build
 * step, and no .ts files for the project's typecheck to trip over while the API evolves).
 * Equivalent to writing `@Controller()`, `@Get()`, ... in TypeScript.
 */
import 'reflect-metadata';

/** `@d1 @d2 class X {}` */
export function decorateClass(target, ...decorators) {
  return Reflect.decorate(decorators, target);
}

/** `class X { @d1 @d2 name() {} }` */
export function decorateMethod(target, name, ...decorators) {
  const proto = target.prototype;
  const descriptor = Reflect.decorate(decorators, proto, name, Object.getOwnPropertyDescriptor(proto, name));
  if (descriptor) Object.defineProperty(proto, name, descriptor);
}

/** Constructor parameter types, as `emitDecoratorMetadata` would record them. */
export function paramTypes(target, ...types) {
  Reflect.defineMetadata('design:paramtypes', types, target);
}
