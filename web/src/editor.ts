// The code editor: CodeMirror 6 with a dark theme and a language compartment.
import { EditorState, Compartment, Prec } from "@codemirror/state";
import {
  EditorView,
  keymap,
  lineNumbers,
  highlightActiveLine,
  highlightActiveLineGutter,
  highlightSpecialChars,
  drawSelection,
  rectangularSelection,
  crosshairCursor,
  dropCursor,
} from "@codemirror/view";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import {
  bracketMatching,
  foldGutter,
  foldKeymap,
  indentOnInput,
  syntaxHighlighting,
  defaultHighlightStyle,
  indentUnit,
} from "@codemirror/language";
import { closeBrackets, closeBracketsKeymap } from "@codemirror/autocomplete";
import { highlightSelectionMatches, searchKeymap } from "@codemirror/search";
import { oneDark, oneDarkHighlightStyle } from "@codemirror/theme-one-dark";
import { highlighting } from "./languages.ts";

export interface Editor {
  view: EditorView;
  code(): string;
  setCode(code: string): void;
  setLanguage(language: string): void;
  focus(): void;
}

const theme = EditorView.theme(
  {
    "&": { height: "100%", backgroundColor: "var(--editor-bg)", fontSize: "var(--code-size)" },
    ".cm-scroller": { fontFamily: "var(--mono)", lineHeight: "1.55" },
    ".cm-gutters": { backgroundColor: "var(--editor-bg)", borderRight: "1px solid var(--line)", color: "var(--faint)" },
    ".cm-panels": { backgroundColor: "var(--panel-2)", color: "var(--text)" },
    ".cm-tooltip": { backgroundColor: "var(--panel-2)", border: "1px solid var(--line-2)" },
    ".cm-activeLine": { backgroundColor: "rgba(124, 156, 255, 0.06)" },
    ".cm-activeLineGutter": { backgroundColor: "rgba(124, 156, 255, 0.08)", color: "var(--text)" },
    "&.cm-focused": { outline: "none" },
    ".cm-content": { padding: "10px 0" },
  },
  { dark: true },
);

export function createEditor(
  parent: HTMLElement,
  options: { onRun: () => void; onChange: (code: string) => void },
): Editor {
  const language = new Compartment();
  const runKeys = Prec.highest(
    keymap.of([
      { key: "Mod-Enter", preventDefault: true, run: () => (options.onRun(), true) },
    ]),
  );
  const view = new EditorView({
    parent,
    state: EditorState.create({
      doc: "",
      extensions: [
        runKeys,
        lineNumbers(),
        highlightActiveLineGutter(),
        highlightSpecialChars(),
        history(),
        foldGutter(),
        drawSelection(),
        dropCursor(),
        EditorState.allowMultipleSelections.of(true),
        indentOnInput(),
        indentUnit.of("    "),
        syntaxHighlighting(oneDarkHighlightStyle),
        syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
        bracketMatching(),
        closeBrackets(),
        rectangularSelection(),
        crosshairCursor(),
        highlightActiveLine(),
        highlightSelectionMatches(),
        keymap.of([
          ...closeBracketsKeymap,
          ...defaultKeymap,
          ...searchKeymap,
          ...historyKeymap,
          ...foldKeymap,
          indentWithTab,
        ]),
        theme,
        oneDark,
        language.of([]),
        EditorView.contentAttributes.of({ "aria-label": "Program source", "data-testid": "editor-content" }),
        EditorView.updateListener.of((update) => {
          if (update.docChanged) options.onChange(update.state.doc.toString());
        }),
      ],
    }),
  });
  return {
    view,
    code: () => view.state.doc.toString(),
    setCode(code) {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: code } });
    },
    setLanguage(id) {
      view.dispatch({ effects: language.reconfigure(highlighting(id)) });
    },
    focus: () => view.focus(),
  };
}
