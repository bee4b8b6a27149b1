// The history entry of the fiddle on screen: `{ hash, answer }` for a stored fiddle (the answer
// of the run that made it, when this page ran it) or `{ hash: null, code, options }` for a new
// one. One place, so that running, naming and Back all agree on which fiddle is shown.

let current = { hash: null };

export function currentState() {
  return current;
}

export function setCurrentState(state) {
  current = state;
}
