// What the console keeps in the browser (localStorage), and nothing else.

const PREFIX = "runnel.";

function get(name: string): string | null {
  try {
    return localStorage.getItem(PREFIX + name);
  } catch {
    return null;
  }
}

function set(name: string, value: string | null): void {
  try {
    if (value === null) localStorage.removeItem(PREFIX + name);
    else localStorage.setItem(PREFIX + name, value);
  } catch {
    // Private windows may refuse storage: the console still works for this visit.
  }
}

export const store = {
  apiKey: (): string | null => get("apiKey"),
  setApiKey: (key: string | null): void => set("apiKey", key),
  language: (): string | null => get("language"),
  setLanguage: (id: string): void => set("language", id),
  mode: (): "oneshot" | "session" => (get("mode") === "session" ? "session" : "oneshot"),
  setMode: (mode: "oneshot" | "session"): void => set("mode", mode),
  draft: (language: string): string | null => get(`draft.${language}`),
  setDraft: (language: string, code: string | null): void => set(`draft.${language}`, code),
};
