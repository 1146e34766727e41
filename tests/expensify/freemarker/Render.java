import freemarker.template.Configuration;
import freemarker.template.Template;
import freemarker.template.TemplateExceptionHandler;
import java.io.File;
import java.io.StringReader;
import java.io.StringWriter;
import java.io.Writer;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.HashMap;
import java.util.Map;

/**
 * Renders the connector's template.ftl with real FreeMarker over data models given as JSON.
 * Usage: java -cp freemarker.jar:DIR Render TEMPLATE_DIR TEMPLATE_NAME IN1.json OUT1.json [...]
 * The JSON model becomes the data model through FreeMarker's own ?eval_json, so the template
 * sees the same hashes, sequences, numbers and booleans as from any JSON-shaped model.
 */
public class Render {
    public static void main(String[] args) throws Exception {
        Configuration cfg = new Configuration(Configuration.VERSION_2_3_31);
        cfg.setDirectoryForTemplateLoading(new File(args[0]));
        cfg.setDefaultEncoding("UTF-8");
        cfg.setTemplateExceptionHandler(TemplateExceptionHandler.RETHROW_HANDLER);
        cfg.setLogTemplateExceptions(false);
        String wrapper = "<#assign root = json?eval_json>"
            + "<#assign reports = root.reports![]>"
            + "<#assign addHeader = root.addHeader!false>"
            + "<#include \"" + args[1] + "\">";
        Template template = new Template("wrapper", new StringReader(wrapper), cfg);
        for (int i = 2; i + 1 < args.length; i += 2) {
            String json = new String(Files.readAllBytes(Path.of(args[i])), StandardCharsets.UTF_8);
            Map<String, Object> model = new HashMap<>();
            model.put("json", json);
            StringWriter out = new StringWriter();
            template.process(model, out);
            try (Writer w = Files.newBufferedWriter(Path.of(args[i + 1]), StandardCharsets.UTF_8)) {
                w.write(out.toString());
            }
        }
    }
}
