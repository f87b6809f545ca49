// Runnel's session driver for the JVM languages (crates/languages/src/repl.rs describes the
// protocol), run by Java's source launcher: `java -cp JARS .runnel-session.java LANGUAGE`.
//
// One driver, one evaluator per language, all keeping their state in this JVM:
// - java: JShell (jdk.jshell, local execution): variables, methods, classes and imports persist;
//   a cell that declares a class with `static void main` and runs nothing else runs its main;
// - groovy: the JSR-223 Groovy engine: binding variables and methods persist (top-level
//   `def x = ...` and typed declarations are made binding variables, imports are kept);
// - clojure: forms read and evaluated one by one in the session's namespace (`user`, or the one
//   a cell switched to);
// - scala: the Scala interpreter (IMain, JSR-223);
// - kotlin: Kotlin's JSR-223 engine.
// Cells run on a thread of their own. An exception ends its cell only ("Class: message");
// SIGINT stops the running cell (JShell.stop, else Thread.stop) and reports KeyboardInterrupt.
// System.in asks the host (input_request) when nothing the client sent is waiting on stdin.
import java.io.*;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.util.*;
import java.util.regex.*;
import javax.script.*;

public class RunnelSession {
    static final PrintStream OUT =
            new PrintStream(new FileOutputStream(FileDescriptor.out), true, StandardCharsets.UTF_8);
    static final PrintStream ERR =
            new PrintStream(new FileOutputStream(FileDescriptor.err), true, StandardCharsets.UTF_8);
    static BufferedReader control;
    static OutputStream events;
    static volatile String inputMarker = "";
    /** SIGINT came during the running cell. */
    static volatile boolean stopRequested;

    /** A failure already reported on stderr. */
    static final class CellError extends Exception {
        final String name;
        final String value;

        CellError(String name, String value) {
            super(name + ": " + value, null, false, false);
            this.name = name;
            this.value = value == null ? "" : value;
        }
    }

    interface Evaluator {
        void eval(String code) throws Exception;

        default void interrupt(Thread cell) {
            stopThread(cell);
        }

        /** Output an engine buffers itself (a script's `print`) goes out before the marker. */
        default void flush() { }

        /** Done before `ready`, so that the first cell's wall-clock limit is not spent on it. */
        default void warm() { }
    }

    @SuppressWarnings({"deprecation", "removal"})
    static void stopThread(Thread thread) {
        thread.stop();
    }

    public static void main(String[] args) throws Exception {
        new File(".runnel-session.java").delete();
        System.setOut(OUT);
        System.setErr(ERR);
        control = new BufferedReader(new InputStreamReader(
                new FileInputStream("/proc/self/fd/3"), StandardCharsets.UTF_8));
        events = new FileOutputStream("/proc/self/fd/4");
        InputStream realIn = new FileInputStream(FileDescriptor.in);
        System.setIn(new AskingInput(realIn));
        Evaluator evaluator = switch (args[0]) {
            case "java" -> new JShellEvaluator();
            case "groovy" -> new GroovyEvaluator();
            case "clojure" -> new ClojureEvaluator();
            case "scala" -> new ScriptEvaluator("scala");
            case "kotlin" -> new ScriptEvaluator("kotlin");
            default -> throw new IllegalArgumentException("no evaluator for " + args[0]);
        };
        Thread[] running = new Thread[1];
                sun.misc.Signal.handle(new sun.misc.Signal("INT"), signal -> {
            synchronized (running) {
                if (running[0] != null) {
                    stopRequested = true;
                    evaluator.interrupt(running[0]);
                }
            }
        });
        evaluator.warm();
        send("{\"op\":\"ready\"}");
        String line;
        while ((line = control.readLine()) != null) {
            Map<String, String> message = parse(line);
            if (!"execute".equals(message.get("op"))) {
                continue;
            }
            inputMarker = message.getOrDefault("input_marker", "");
            String code = message.getOrDefault("code", "");
            CellError[] failure = new CellError[1];
            Thread cell = new Thread(() -> {
                try {
                    evaluator.eval(code);
                } catch (CellError error) {
                    failure[0] = error;
                } catch (Throwable error) {
                    failure[0] = report(error);
                }
            }, "runnel-cell");
            synchronized (running) {
                stopRequested = false;
                running[0] = cell;
            }
            cell.start();
            // An interrupt that came between two statements (JShell snippets) may have found
            // nothing to stop: while the cell goes on, it is stopped again.
            while (cell.isAlive()) {
                cell.join(500);
                synchronized (running) {
                    if (stopRequested && cell.isAlive()) {
                        evaluator.interrupt(cell);
                    }
                }
            }
            evaluator.flush();
            synchronized (running) {
                running[0] = null;
                if (stopRequested) {
                    ERR.println("Interrupted.");
                    failure[0] = new CellError("KeyboardInterrupt", "");
                }
            }
            String marker = message.getOrDefault("marker", "");
            OUT.flush();
            OUT.write(marker.getBytes(StandardCharsets.UTF_8));
            OUT.flush();
            ERR.flush();
            ERR.write(marker.getBytes(StandardCharsets.UTF_8));
            ERR.flush();
            String status = failure[0] == null
                    ? "\"status\":\"ok\""
                    : "\"status\":\"error\",\"ename\":" + json(failure[0].name) + ",\"evalue\":"
                            + json(failure[0].value);
            send("{\"op\":\"done\",\"id\":" + json(message.getOrDefault("id", "")) + ","
                    + status + "}");
        }
        System.exit(0);
    }

    /** Print `error` (its cause, for wrappers) with the user's frames; name it. */
    static CellError report(Throwable error) {
        Throwable cause = error;
        while ((cause instanceof ScriptException
                        || cause instanceof java.lang.reflect.InvocationTargetException
                        || cause.getClass().getName().equals("clojure.lang.Compiler$CompilerException")
                        || cause.getClass().getName().equals("clojure.lang.LispReader$ReaderException"))
                && cause.getCause() != null) {
            cause = cause.getCause();
        }
        for (Throwable link = error; link != null; link = link.getCause()) {
            if (link instanceof ThreadDeath) {
                return new CellError("KeyboardInterrupt", "");
            }
        }
        ERR.println(cause);
        for (StackTraceElement frame : cause.getStackTrace()) {
            String name = frame.getClassName();
            if (name.startsWith("RunnelSession") || name.startsWith("javax.script")
                    || name.contains("$eval")) {
                break;
            }
            if (name.startsWith("java.") || name.startsWith("jdk.") || name.startsWith("sun.")
                    || name.startsWith("org.codehaus.groovy.") || name.startsWith("groovy.")
                    || name.startsWith("clojure.lang.") || name.startsWith("clojure.core$")
                    || name.startsWith("scala.tools.")
                    || name.startsWith("org.jetbrains.kotlin.") || name.startsWith("kotlin.script.")) {
                continue;
            }
            ERR.println("\tat " + frame);
        }
        return new CellError(cause.getClass().getSimpleName(), String.valueOf(cause.getMessage()));
    }

    static synchronized void send(String line) throws IOException {
        events.write((line + "\n").getBytes(StandardCharsets.UTF_8));
        events.flush();
    }

    /** System.in: what the client already sent to stdin, else one line asked of the host. */
    static final class AskingInput extends InputStream {
        final InputStream real;
        byte[] pending = new byte[0];
        int at;

        AskingInput(InputStream real) {
            this.real = real;
        }

        @Override
        public synchronized int read() throws IOException {
            byte[] one = new byte[1];
            return read(one, 0, 1) < 0 ? -1 : one[0] & 0xff;
        }

        @Override
        public synchronized int read(byte[] buffer, int offset, int length) throws IOException {
            if (length == 0) {
                return 0;
            }
            if (at >= pending.length) {
                if (real.available() > 0) {
                    return real.read(buffer, offset, length);
                }
                OUT.flush();
                ERR.flush();
                byte[] marker = inputMarker.getBytes(StandardCharsets.UTF_8);
                OUT.write(marker);
                OUT.flush();
                ERR.write(marker);
                ERR.flush();
                send("{\"op\":\"input_request\",\"prompt\":\"\",\"password\":false}");
                String line;
                while ((line = control.readLine()) != null) {
                    Map<String, String> message = parse(line);
                    if ("input_reply".equals(message.get("op"))) {
                        pending = (message.getOrDefault("value", "") + "\n")
                                .getBytes(StandardCharsets.UTF_8);
                        at = 0;
                        break;
                    }
                }
                if (line == null) {
                    return -1;
                }
            }
            int count = Math.min(length, pending.length - at);
            System.arraycopy(pending, at, buffer, offset, count);
            at += count;
            return count;
        }

        @Override
        public synchronized int available() throws IOException {
            return at < pending.length ? pending.length - at : real.available();
        }
    }

    // ---- Java: JShell ----

    static final class JShellEvaluator implements Evaluator {
        final jdk.jshell.JShell shell = jdk.jshell.JShell.builder()
                .executionEngine("local")
                .in(System.in)
                .out(OUT)
                .err(ERR)
                .build();
        static final Pattern MAIN = Pattern.compile("static\\s+(public\\s+)?void\\s+main\\s*\\(");

        @Override
        public void eval(String code) throws Exception {
            String rest = code.replaceAll("(?m)^\\s*package\\s+[\\w.]+\\s*;", "");
            jdk.jshell.SourceCodeAnalysis analysis = shell.sourceCodeAnalysis();
            String mainClass = null;
            boolean ranSomething = false;
            while (!rest.isBlank()) {
                jdk.jshell.SourceCodeAnalysis.CompletionInfo info = analysis.analyzeCompletion(rest);
                String source = info.source();
                if (source == null || info.completeness()
                        == jdk.jshell.SourceCodeAnalysis.Completeness.DEFINITELY_INCOMPLETE) {
                    source = rest;
                    rest = "";
                } else {
                    rest = info.remaining();
                }
                if (stopRequested) {
                    return;
                }
                for (jdk.jshell.SnippetEvent event : shell.eval(source)) {
                    jdk.jshell.Snippet snippet = event.snippet();
                    if (event.status() == jdk.jshell.Snippet.Status.REJECTED) {
                        String first = null;
                        for (jdk.jshell.Diag diag : shell.diagnostics(snippet).toList()) {
                            String text = diag.getMessage(Locale.ROOT);
                            ERR.println((diag.isError() ? "error: " : "warning: ") + text);
                            if (diag.isError() && first == null) {
                                first = text;
                            }
                        }
                        ERR.println(indent(snippet.source()));
                        throw new CellError("CompileError", first == null ? "rejected" : first);
                    }
                    if (event.exception() != null) {
                        throw jshellError(event.exception());
                    }
                    if (event.causeSnippet() != null) {
                        continue;
                    }
                    switch (snippet.kind()) {
                        case TYPE_DECL -> {
                            if (MAIN.matcher(snippet.source()).find()) {
                                mainClass = ((jdk.jshell.TypeDeclSnippet) snippet).name();
                            }
                        }
                        case EXPRESSION, STATEMENT, VAR -> ranSomething = true;
                        default -> { }
                    }
                    if (snippet instanceof jdk.jshell.DeclarationSnippet declaration
                            && event.status() == jdk.jshell.Snippet.Status.RECOVERABLE_DEFINED) {
                        ERR.println("note: " + declaration.name()
                                + " can be used once what it refers to is defined: "
                                + String.join(", ", shell.unresolvedDependencies(declaration).toList()));
                    }
                }
            }
            if (mainClass != null && !ranSomething) {
                for (jdk.jshell.SnippetEvent event
                        : shell.eval(mainClass + ".main(new String[0]);")) {
                    if (event.exception() != null) {
                        throw jshellError(event.exception());
                    }
                }
            }
        }

        CellError jshellError(jdk.jshell.JShellException exception) {
            String name = exception instanceof jdk.jshell.EvalException eval
                    ? eval.getExceptionClassName()
                    : exception.getClass().getName();
            ERR.println("Exception " + name
                    + (exception.getMessage() == null ? "" : ": " + exception.getMessage()));
            for (StackTraceElement frame : exception.getStackTrace()) {
                if (frame.getClassName().contains("$JShell$")) {
                    ERR.println("\tat " + frame.getMethodName().replace("do_it$", "(cell)")
                            + " (#" + frame.getLineNumber() + ")");
                }
            }
            String simple = name.substring(name.lastIndexOf('.') + 1);
            return new CellError(simple, String.valueOf(exception.getMessage()));
        }

        static String indent(String source) {
            return "    " + source.strip().replace("\n", "\n    ");
        }

        @Override
        public void interrupt(Thread cell) {
            shell.stop();
        }
    }

    // ---- JSR-223 engines: Groovy, Scala, Kotlin ----

    static class ScriptEvaluator implements Evaluator {
        final ScriptEngine engine;
        final PrintWriter out = new PrintWriter(OUT, true);
        final PrintWriter err = new PrintWriter(ERR, true);

        final Pattern mainDeclaration;
        /**
         * Compiled and run before `ready`, leaving no state (a Unit result is not bound): the
         * compiler behind Kotlin's and Scala's engines loads on the first eval, seconds on a
         * loaded machine, which would otherwise count against the first cell.
         */
        final String warmup;

        ScriptEvaluator(String name) {
            warmup = switch (name) {
                case "kotlin" -> "Unit";
                case "scala" -> "()";
                default -> null;
            };
            ScriptEngineManager manager = new ScriptEngineManager();
            ScriptEngine found = name.equals("scala")
                    ? scalaInterpreter()
                    : manager.getEngineByName(name);
            if (found == null && name.equals("kotlin")) {
                found = manager.getEngineByExtension("main.kts");
            }
            engine = found;
            mainDeclaration = name.equals("kotlin")
                    ? Pattern.compile("(?m)^fun\\s+main\\s*\\(")
                    : Pattern.compile("(?s)\\bobject\\s+(\\w+).*?\\bdef\\s+main\\s*\\(");
            if (engine == null) {
                throw new IllegalStateException("no JSR-223 engine " + name + " on the class path");
            }
            engine.getContext().setWriter(out);
            engine.getContext().setErrorWriter(err);
        }

        @Override
        public void flush() {
            out.flush();
            err.flush();
        }

        @Override
        public void warm() {
            if (warmup == null) {
                return;
            }
            try {
                engine.eval(warmup);
            } catch (Exception error) {
                // Not warmed: the first cell pays for the compiler's start instead.
            }
            flush();
        }

        /** Scala's IMain, reporting compile errors on stderr (its factory's would use stdout). */
        ScriptEngine scalaInterpreter() {
            try {
                Class<?> settingsClass = Class.forName("scala.tools.nsc.Settings");
                Object settings = settingsClass.getConstructor().newInstance();
                Object usejavacp = settingsClass.getMethod("usejavacp").invoke(settings);
                usejavacp.getClass().getMethod("value_$eq", Object.class)
                        .invoke(usejavacp, Boolean.TRUE);
                return (ScriptEngine) Class.forName("scala.tools.nsc.interpreter.IMain")
                        .getConstructor(settingsClass, PrintWriter.class)
                        .newInstance(settings, err);
            } catch (ReflectiveOperationException error) {
                throw new IllegalStateException("no Scala interpreter on the class path", error);
            }
        }

        /** A top-level line that declares (runs nothing). */
        static final Pattern DECLARATION_LINE = Pattern.compile(
                "(?:import|package|fun|class|object|trait|interface|enum|data|sealed|abstract"
                        + "|open|final|private|internal|case|def|val|var|type)\\b.*|@.*|[})].*");

        static boolean declaresOnly(String code) {
            for (String line : code.split("\n")) {
                if (!line.isBlank() && !Character.isWhitespace(line.charAt(0))
                        && !line.startsWith("//") && !DECLARATION_LINE.matcher(line).matches()) {
                    return false;
                }
            }
            return true;
        }

        @Override
        public void eval(String code) throws Exception {
            try {
                engine.eval(code);
            } catch (ScriptException error) {
                // Compile errors: Scala reports them itself (on the context's writer), Kotlin in
                // the message, as "ERROR <message> (<where>)" lines.
                String message = String.valueOf(error.getMessage());
                Matcher kotlin = Pattern.compile("(?m)^ERROR (.*)$").matcher(message);
                if (error.getCause() == null && kotlin.find()) {
                    ERR.println(message.substring(message.indexOf("ERROR ")));
                    throw new CellError("CompileError", kotlin.group(1));
                }
                if (error.getCause() == null && message.contains("compile-time error")) {
                    throw new CellError("CompileError", "compile-time error");
                }
                throw error;
            }
            // A whole program runs: its main is called when the cell declares it and runs
            // nothing else.
            Matcher main = mainDeclaration.matcher(code);
            if (main.find() && declaresOnly(code)) {
                engine.eval(main.groupCount() == 0 ? "main()" : main.group(1) + ".main(Array())");
            }
        }
    }

    static final class GroovyEvaluator extends ScriptEvaluator {
        static final Pattern IMPORT = Pattern.compile("(?m)^import\\s+[^\\n;]+;?");
        static final Pattern DECLARATION = Pattern.compile(
                "(?m)^(?:def|var|final|int|long|short|byte|char|float|double|boolean|String"
                        + "|[A-Z][\\w.]*(?:<[^=\\n]*>)?(?:\\[\\])?)\\s+([A-Za-z_$][\\w$]*)\\s*=(?!=)");
        final List<String> imports = new ArrayList<>();

        GroovyEvaluator() {
            super("groovy");
        }

        @Override
        public void eval(String code) throws Exception {
            List<String> found = new ArrayList<>();
            Matcher importMatcher = IMPORT.matcher(code);
            while (importMatcher.find()) {
                found.add(importMatcher.group().replaceAll(";$", "").strip());
            }
            // Top-level declarations become binding variables, so they outlive the cell.
            String body = DECLARATION.matcher(code).replaceAll("$1 =");
            String prefix = imports.isEmpty() ? "" : String.join("; ", imports) + "; ";
            engine.eval(prefix + body);
            for (String line : found) {
                if (!imports.contains(line)) {
                    imports.add(line);
                }
            }
        }
    }

    // ---- Clojure, through its own functions (no compile-time dependency on it) ----

    static final class ClojureEvaluator implements Evaluator {
        final Method invoke1;
        final Method invoke2;
        final Object evalCell;
        Object namespace;

        ClojureEvaluator() throws Exception {
            Class<?> rt = Class.forName("clojure.lang.RT");
            Class<?> ifn = Class.forName("clojure.lang.IFn");
            invoke1 = ifn.getMethod("invoke", Object.class);
            invoke2 = ifn.getMethod("invoke", Object.class, Object.class);
            Object loadString = rt.getMethod("var", String.class, String.class)
                    .invoke(null, "clojure.core", "load-string");
            evalCell = invoke1.invoke(loadString, String.join("\n",
                    "(fn [code ns]",
                    "  (binding [*ns* ns]",
                    "    (try",
                    "      (let [reader (clojure.lang.LineNumberingPushbackReader.",
                    "                     (java.io.StringReader. code))",
                    "            eof (Object.)]",
                    "        (loop []",
                    "          (let [form (read {:eof eof :read-cond :allow} reader)]",
                    "            (when-not (identical? form eof)",
                    "              (eval form)",
                    "              (recur))))",
                    "        *ns*)",
                    "      (finally (flush) (.flush *err*)))))"));
            namespace = invoke1.invoke(loadString, String.join("\n",
                    "(binding [*ns* *ns*]",
                    "  (in-ns 'user)",
                    "  (clojure.core/refer-clojure)",
                    "  (require '[clojure.repl :refer [doc source dir apropos pst]])",
                    "  *ns*)"));
        }

        @Override
        public void eval(String code) throws Exception {
            try {
                namespace = invoke2.invoke(evalCell, code, namespace);
            } catch (java.lang.reflect.InvocationTargetException wrapped) {
                throw (Exception) (wrapped.getCause() instanceof Exception e ? e : wrapped);
            } finally {
                OUT.flush();
            }
        }
    }

    // ---- JSON, as much as the protocol needs ----

    static Map<String, String> parse(String line) {
        Map<String, String> fields = new HashMap<>();
        int i = line.indexOf('{') + 1;
        while (i > 0 && i < line.length()) {
            int keyStart = line.indexOf('"', i);
            if (keyStart < 0) {
                break;
            }
            StringBuilder key = new StringBuilder();
            i = string(line, keyStart, key);
            i = line.indexOf(':', i) + 1;
            while (i < line.length() && Character.isWhitespace(line.charAt(i))) {
                i++;
            }
            if (i < line.length() && line.charAt(i) == '"') {
                StringBuilder value = new StringBuilder();
                i = string(line, i, value);
                fields.put(key.toString(), value.toString());
            } else {
                int end = i;
                while (end < line.length() && ",}".indexOf(line.charAt(end)) < 0) {
                    end++;
                }
                fields.put(key.toString(), line.substring(i, end).strip());
                i = end;
            }
            i = line.indexOf(',', i) + 1;
        }
        return fields;
    }

    /** Reads the JSON string starting at the quote at `start`; returns the index after it. */
    static int string(String line, int start, StringBuilder out) {
        int i = start + 1;
        while (i < line.length()) {
            char c = line.charAt(i++);
            if (c == '"') {
                return i;
            }
            if (c != '\\') {
                out.append(c);
                continue;
            }
            char escape = line.charAt(i++);
            switch (escape) {
                case 'n' -> out.append('\n');
                case 't' -> out.append('\t');
                case 'r' -> out.append('\r');
                case 'b' -> out.append('\b');
                case 'f' -> out.append('\f');
                case 'u' -> {
                    out.append((char) Integer.parseInt(line.substring(i, i + 4), 16));
                    i += 4;
                }
                default -> out.append(escape);
            }
        }
        return i;
    }

    static String json(String text) {
        StringBuilder out = new StringBuilder("\"");
        for (char c : text.toCharArray()) {
            switch (c) {
                case '"' -> out.append("\\\"");
                case '\\' -> out.append("\\\\");
                case '\n' -> out.append("\\n");
                default -> out.append(c < 32 ? ' ' : c);
            }
        }
        return out.append('"').toString();
    }
}
