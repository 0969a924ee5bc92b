// A tiny event emitter: the pages' modules tell each other what changed through
// it instead of reaching into each other's state.
//
// on(type, fn) returns a function that removes the listener. Listeners run in the
// order they were added, synchronously, inside emit(); one that throws does not
// stop the others (the error is reported to the console).

export class Emitter {
  #listeners = new Map(); // type -> Set(fn)

  on(type, fn) {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, (set = new Set()));
    set.add(fn);
    return () => set.delete(fn);
  }

  emit(type, ...args) {
    const set = this.#listeners.get(type);
    if (!set) return;
    for (const fn of [...set]) {
      try {
        fn(...args);
      } catch (e) {
        console.error(e);
      }
    }
  }
}
