// Runnel's warm JVM compilers (Kotlin's and Scala's). The warm pool starts this in a fresh
// sandbox ahead of any request (java source-file mode, the compiler's jars on the class path):
// it loads the compiler and compiles a throwaway program once, so that the JIT has compiled
// the compiler, says so with a line on fd 4, then blocks on fd 3. The engine writes one launch
// request there,
//   {"main": "", "argv": [...the compile command's arguments after argv[0]...]}
// and this process compiles exactly that, in the work directory, with the compiler's messages
// on its output, and exits with the compiler's status: to the engine it is the compile step's
// process, started early. It serves one compile, in one sandbox, for one run.
//
// argv: `kotlinc KOTLIN_HOME` or `scalac`. When the compile command is a shell script
// (`sh -c SCRIPT NAME ARGS...`), the compiler's arguments are the ARGS.

import java.io.BufferedReader;
import java.io.FileInputStream;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.OutputStream;
import java.io.PrintStream;
import java.lang.reflect.Method;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.List;

public class RunnelWarmJvmCompiler {
    public static void main(String[] driverArgs) throws Exception {
        // A program listing its work directory should not trip on the driver.
        Files.deleteIfExists(Paths.get(".runnel-warm-jvm-compiler.java"));
        Compiler compiler = driverArgs[0].equals("kotlinc")
                ? new Kotlinc(driverArgs[1]) : new Scalac();

        // The warm-up program compiles cleanly, so nothing reaches the compile step's output.
        // (System.out and System.err stay as they are: Scala's Console keeps the streams it
        // first saw.)
        Path scratch = Files.createTempDirectory("runnel-warmup");
        compiler.warmUp(scratch, new PrintStream(OutputStream.nullOutputStream()));
        try (var files = Files.walk(scratch)) {
            for (Path path : files.sorted(java.util.Comparator.reverseOrder()).toList()) {
                Files.deleteIfExists(path);
            }
        }

        // Ready: the pool counts this compiler from now on.
        try (FileOutputStream ready = new FileOutputStream("/proc/self/fd/4")) {
            ready.write('\n');
        }
        String line;
        try (BufferedReader launch = new BufferedReader(new InputStreamReader(
                new FileInputStream("/proc/self/fd/3"), StandardCharsets.UTF_8))) {
            line = launch.readLine();
        }
        if (line == null) {
            System.exit(0); // the sandbox is being torn down unused
        }
        List<String> args = stringArray(line, "argv");
        if (args.size() >= 3 && args.get(0).equals("-c")) {
            args = new ArrayList<>(args.subList(3, args.size()));
        }
        int status = compiler.compile(args);
        System.out.flush();
        System.err.flush();
        System.exit(status);
    }

    interface Compiler {
        void warmUp(Path scratch, PrintStream discard) throws Exception;

        int compile(List<String> args) throws Exception;
    }

    /** kotlinc: `K2JVMCompiler.exec(PrintStream, String...)`, messages on stderr. */
    static final class Kotlinc implements Compiler {
        final String home;
        final Class<?> compilerClass;
        final Method exec;

        Kotlinc(String home) throws Exception {
            this.home = home;
            compilerClass = Class.forName("org.jetbrains.kotlin.cli.jvm.K2JVMCompiler");
            exec = compilerClass.getMethod("exec", PrintStream.class, String[].class);
        }

        public void warmUp(Path scratch, PrintStream discard) throws Exception {
            Path source = scratch.resolve("warmup.kt");
            Files.write(source, "fun main() { val xs = listOf(1, 2, 3); println(xs.map { it * 2 }.sum()) }\n"
                    .getBytes(StandardCharsets.UTF_8));
            run(discard, List.of("-nowarn", "-include-runtime",
                    "-d", scratch.resolve("warmup.jar").toString(), source.toString()));
        }

        public int compile(List<String> args) throws Exception {
            return run(System.err, args);
        }

        int run(PrintStream messages, List<String> args) throws Exception {
            List<String> all = new ArrayList<>(List.of("-kotlin-home", home));
            all.addAll(args);
            Object code = exec.invoke(compilerClass.getDeclaredConstructor().newInstance(), messages,
                    all.toArray(new String[0]));
            return (Integer) code.getClass().getMethod("getCode").invoke(code);
        }
    }

    /** scalac: `scala.tools.nsc.Main.process(String[])`, then its reporter's verdict. */
    static final class Scalac implements Compiler {
        final Class<?> main = Class.forName("scala.tools.nsc.Main");

        Scalac() throws Exception {
        }

        public void warmUp(Path scratch, PrintStream discard) throws Exception {
            Path source = scratch.resolve("warmup.scala");
            Files.write(source, ("object Warmup { def main(args: Array[String]): Unit = "
                    + "println(List(1, 2, 3).map(_ * 2).sum) }\n").getBytes(StandardCharsets.UTF_8));
            compile(List.of("-usejavacp", "-nowarn", "-d", scratch.toString(), source.toString()));
        }

        public int compile(List<String> args) throws Exception {
            main.getMethod("process", String[].class).invoke(null, (Object) args.toArray(new String[0]));
            Object reporter = main.getMethod("reporter").invoke(null);
            boolean failed = (Boolean) reporter.getClass().getMethod("hasErrors").invoke(reporter);
            return failed ? 1 : 0;
        }
    }

    /** The array of strings under `key` in a one-line JSON object (the launch request). */
    static List<String> stringArray(String json, String key) {
        List<String> values = new ArrayList<>();
        int at = json.indexOf("\"" + key + "\"");
        if (at < 0) {
            return values;
        }
        at = json.indexOf('[', at) + 1;
        while (at > 0 && at < json.length()) {
            char c = json.charAt(at);
            if (c == ']') {
                break;
            }
            if (c != '"') {
                at++;
                continue;
            }
            StringBuilder value = new StringBuilder();
            at++;
            while (at < json.length() && json.charAt(at) != '"') {
                char d = json.charAt(at++);
                if (d != '\\') {
                    value.append(d);
                    continue;
                }
                char escaped = json.charAt(at++);
                switch (escaped) {
                    case 'n': value.append('\n'); break;
                    case 'r': value.append('\r'); break;
                    case 't': value.append('\t'); break;
                    case 'b': value.append('\b'); break;
                    case 'f': value.append('\f'); break;
                    case 'u':
                        value.append((char) Integer.parseInt(json.substring(at, at + 4), 16));
                        at += 4;
                        break;
                    default: value.append(escaped);
                }
            }
            values.add(value.toString());
            at++;
        }
        return values;
    }
}
