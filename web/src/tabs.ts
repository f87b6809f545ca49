// The console's tabs (output, terminal, monitor): one shown at a time, arrow keys, Home and End
// move between them as in a WAI-ARIA tab list.
import type { Tab } from "./elements.ts";

const TABS: Tab[] = ["output", "terminal", "monitor"];

export class Tabs {
  constructor(
    private readonly tabs: Record<Tab, HTMLButtonElement>,
    private readonly panels: Record<Tab, HTMLElement>,
    private readonly onShow: (tab: Tab, focus: boolean) => void,
  ) {
    for (const name of TABS) {
      const tab = tabs[name];
      tab.tabIndex = 0;
      tab.addEventListener("click", () => this.show(name));
      tab.addEventListener("keydown", (event) => {
        const index = TABS.indexOf(name);
        let next: Tab | undefined;
        if (event.key === "ArrowRight") next = TABS[(index + 1) % TABS.length];
        else if (event.key === "ArrowLeft") next = TABS[(index + TABS.length - 1) % TABS.length];
        else if (event.key === "Home") next = TABS[0];
        else if (event.key === "End") next = TABS[TABS.length - 1];
        if (next) {
          event.preventDefault();
          this.show(next, true);
        }
      });
    }
  }

  /** Show `tab` (and focus its button when `focus`). */
  show(tab: Tab, focus = false): void {
    for (const name of TABS) {
      const on = name === tab;
      this.tabs[name].setAttribute("aria-selected", String(on));
      this.panels[name].hidden = !on;
    }
    if (focus) this.tabs[tab].focus();
    this.onShow(tab, focus);
  }
}
