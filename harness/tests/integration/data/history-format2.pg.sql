--
-- PostgreSQL database dump
--


-- Dumped from database version 15.18 (Debian 15.18-0+deb12u1)
-- Dumped by pg_dump version 15.18 (Debian 15.18-0+deb12u1)

SET statement_timeout = 0;
SET lock_timeout = 0;
SET idle_in_transaction_session_timeout = 0;
SET client_encoding = 'UTF8';
SET standard_conforming_strings = on;
SELECT pg_catalog.set_config('search_path', '', false);
SET check_function_bodies = false;
SET xmloption = content;
SET client_min_messages = warning;
SET row_security = off;

SET default_tablespace = '';

SET default_table_access_method = heap;

--
-- Name: meta; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.meta (
    name text NOT NULL,
    value text NOT NULL
);


--
-- Name: runs; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.runs (
    id bigint NOT NULL,
    series text NOT NULL,
    device text NOT NULL,
    model_name text NOT NULL,
    model_sha256 text NOT NULL,
    method text NOT NULL,
    threads text NOT NULL,
    load_mode text NOT NULL,
    input text NOT NULL,
    etbench_version text NOT NULL,
    executorch_version text NOT NULL,
    run_id text NOT NULL,
    batch text NOT NULL,
    started_at text NOT NULL,
    source text NOT NULL,
    latency_median_ns double precision,
    run_json text NOT NULL,
    device_id text DEFAULT ''::text NOT NULL,
    host text DEFAULT ''::text NOT NULL,
    ci_json text
);


--
-- Name: runs_id_seq; Type: SEQUENCE; Schema: public; Owner: -
--

ALTER TABLE public.runs ALTER COLUMN id ADD GENERATED ALWAYS AS IDENTITY (
    SEQUENCE NAME public.runs_id_seq
    START WITH 1
    INCREMENT BY 1
    NO MINVALUE
    NO MAXVALUE
    CACHE 1
);


--
-- Name: samples; Type: TABLE; Schema: public; Owner: -
--

CREATE TABLE public.samples (
    run bigint NOT NULL,
    iteration bigint NOT NULL,
    latency_ns bigint NOT NULL
);


--
-- Data for Name: meta; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.meta VALUES ('format', '2');


--
-- Data for Name: runs; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.runs OVERRIDING SYSTEM VALUE VALUES (1, 'local (model AMD EPYC) on vm | gemma3n-tiny-xnnpack-fp32 0311d1aff35d | forward | t1 | mmap | input 32 ids, fnv1a:c5608c19 | etbench 0.1.0 | ExecuTorch 1.5.1+cpu', 'local', 'gemma3n-tiny-xnnpack-fp32', '0311d1aff35d8dac494af6cb8edc66759fe368e54b275739170feeb653f54512', 'forward', '1', 'mmap', '32 ids, fnv1a:c5608c19', '0.1.0', '1.5.1+cpu', 'local/gemma3n-tiny-xnnpack-fp32/mmap/t1/r0', '2026-12-08T04:35:54.802698322+00:00', '2026-12-08T04:35:54.814084387+00:00', 'n1/results.json', 3520286, '{"id":"local/gemma3n-tiny-xnnpack-fp32/mmap/t1/r0","device":{"name":"local","transport":"local","info":{"hostname":"vm","os":"Debian GNU/Linux","os_version":"12","kernel":"6.18.44-fc-v1374","arch":"x86_64","cpu_brand":"AMD EPYC","cpu_logical_cores":2,"cpu_physical_cores":2,"memory_total_bytes":25276162048}},"model":{"path":"/work/main/models/gemma3n-tiny-xnnpack-fp32.pte","name":"gemma3n-tiny-xnnpack-fp32","size_bytes":6294016,"sha256":"0311d1aff35d8dac494af6cb8edc66759fe368e54b275739170feeb653f54512"},"params":{"spec":{"method":"forward","load_mode":"mmap","warmup":3,"iterations":5,"threads":1,"gate_timeout_s":300.0,"min_iterations":3,"heartbeat_s":10.0},"repeat_index":0,"repeats":1},"started_at":"2026-12-08T04:35:54.814084387Z","status":"ok","error":null,"runner":{"debug_build":false,"runner_version":"0.1.0","executorch_version":"1.5.1+cpu","target_triple":"x86_64-unknown-linux-gnu","threads_effective":1,"inputs":[{"dtype":"int64","sizes":[1,32]}],"outputs":[{"dtype":"float32","sizes":[1,32,2048]}],"inputs_used":[{"index":0,"spec":"ids","dtype":"int64","sizes":[1,32],"sha256":"cb75efdf0a12d2c10cffe9f6171951c2bb12deaee461856710eac66db6a69f1e"}],"input_ids":[2,33,64,95,126,157,188,219,250,281,312,343,374,405,436,467,498,20,51,82,113,144,175,206,237,268,299,330,361,392,423,454]},"phases":[{"phase":"program_load","duration_ns":84736,"iterations":1,"memory":{"vm_hwm_bytes":6914048,"ru_maxrss_bytes":9830400,"rss_bytes":6914048,"rss_anon_bytes":462848,"rss_file_bytes":6451200,"minor_faults":4,"major_faults":0,"peak_reset":true}},{"phase":"method_load","duration_ns":9645741,"iterations":1,"memory":{"vm_hwm_bytes":14258176,"ru_maxrss_bytes":14258176,"rss_bytes":13455360,"rss_anon_bytes":6250496,"rss_file_bytes":7204864,"minor_faults":1649,"major_faults":0,"peak_reset":true}},{"phase":"first_forward","duration_ns":5948862,"iterations":1,"memory":{"vm_hwm_bytes":18878464,"ru_maxrss_bytes":18710528,"rss_bytes":18878464,"rss_anon_bytes":6524928,"rss_file_bytes":12353536,"minor_faults":145,"major_faults":0,"peak_reset":true}},{"phase":"warmup","duration_ns":11135823,"iterations":3,"memory":{"vm_hwm_bytes":18878464,"ru_maxrss_bytes":18710528,"rss_bytes":18878464,"rss_anon_bytes":6524928,"rss_file_bytes":12353536,"minor_faults":0,"major_faults":0,"peak_reset":true}},{"phase":"timed","duration_ns":17830362,"iterations":5,"memory":{"vm_hwm_bytes":18878464,"ru_maxrss_bytes":18710528,"rss_bytes":18878464,"rss_anon_bytes":6524928,"rss_file_bytes":12353536,"minor_faults":0,"major_faults":0,"peak_reset":true}}],"samples":{"first_forward_ns":5948061,"warmup_ns":[3925779,3614176,3590090],"timed_ns":[3842815,3473266,3520286,3420689,3564863]},"outputs":[{"index":0,"sizes":[1,32,2048],"dtype":"float32","nan_count":0,"inf_count":0,"argmax_last":1869,"sum":-28.78135032156024}],"output_verdict":{"verdict":"matches_manifest"},"summary":{"latency_ns":{"n":5,"median":3520286.0,"p10":3441719.8,"p90":3731634.2,"p99":3831696.92,"min":3420689.0,"max":3842815.0,"mean":3564383.8,"stddev":164635.52757135988,"cv":0.046189057298307745,"trimmed_mean_10":3564383.8,"outliers":[{"index":0,"value":3842815.0,"class":"high_severe"}]},"program_load_ns":84736,"method_load_ns":9645741,"first_forward_ns":5948061,"tokens_per_forward":32,"prefill_tokens_per_s":{"median":9090.170514554784,"p10":8575.331419140708,"p90":9297.677283316323},"decode_equivalent_tokens_per_s":{"median":284.067828579837,"p10":267.9791068481471,"p90":290.5524151036351},"peak_rss_bytes":18878464,"peak_rss_phase":"timed","max_rss_anon_bytes":6524928,"max_rss_file_bytes":12353536,"major_faults":0,"roofline":{"weight_bytes":6294016,"achieved_bytes_per_s":1787927458.1667511,"device_bytes_per_s":null}},"conditions":[{"when":"before","cpus":[{"cpu":0,"cur_khz":null,"max_khz":null,"governor":null},{"cpu":1,"cur_khz":null,"max_khz":null,"governor":null}],"thermal_zones":[],"batteries":[],"thermal_gate":null,"memory_limit":null,"memory_bandwidth_bytes_per_s":null},{"when":"after","cpus":[{"cpu":0,"cur_khz":null,"max_khz":null,"governor":null},{"cpu":1,"cur_khz":null,"max_khz":null,"governor":null}],"thermal_zones":[],"batteries":[],"thermal_gate":null,"memory_limit":null,"memory_bandwidth_bytes_per_s":null}],"memory_fit":{"planned_bytes":499776,"file_bytes":6294016,"available_bytes":24043556864,"fits":true}}', 'model AMD EPYC', 'vm', NULL);
INSERT INTO public.runs OVERRIDING SYSTEM VALUE VALUES (2, 'local (model AMD EPYC) on vm | gemma3n-tiny-xnnpack-fp32 0311d1aff35d | forward | t1 | mmap | input 32 ids, fnv1a:c5608c19 | etbench 0.1.0 | ExecuTorch 1.5.1+cpu', 'local', 'gemma3n-tiny-xnnpack-fp32', '0311d1aff35d8dac494af6cb8edc66759fe368e54b275739170feeb653f54512', 'forward', '1', 'mmap', '32 ids, fnv1a:c5608c19', '0.1.0', '1.5.1+cpu', 'local/gemma3n-tiny-xnnpack-fp32/mmap/t1/r0', '2026-12-08T04:35:54.903948247+00:00', '2026-12-08T04:35:54.906207601+00:00', 'n2/results.json', 3765872, '{"id":"local/gemma3n-tiny-xnnpack-fp32/mmap/t1/r0","device":{"name":"local","transport":"local","info":{"hostname":"vm","os":"Debian GNU/Linux","os_version":"12","kernel":"6.18.44-fc-v1374","arch":"x86_64","cpu_brand":"AMD EPYC","cpu_logical_cores":2,"cpu_physical_cores":2,"memory_total_bytes":25276162048}},"model":{"path":"/work/main/models/gemma3n-tiny-xnnpack-fp32.pte","name":"gemma3n-tiny-xnnpack-fp32","size_bytes":6294016,"sha256":"0311d1aff35d8dac494af6cb8edc66759fe368e54b275739170feeb653f54512"},"params":{"spec":{"method":"forward","load_mode":"mmap","warmup":3,"iterations":5,"threads":1,"gate_timeout_s":300.0,"min_iterations":3,"heartbeat_s":10.0},"repeat_index":0,"repeats":1},"started_at":"2026-12-08T04:35:54.906207601Z","status":"ok","error":null,"runner":{"debug_build":false,"runner_version":"0.1.0","executorch_version":"1.5.1+cpu","target_triple":"x86_64-unknown-linux-gnu","threads_effective":1,"inputs":[{"dtype":"int64","sizes":[1,32]}],"outputs":[{"dtype":"float32","sizes":[1,32,2048]}],"inputs_used":[{"index":0,"spec":"ids","dtype":"int64","sizes":[1,32],"sha256":"cb75efdf0a12d2c10cffe9f6171951c2bb12deaee461856710eac66db6a69f1e"}],"input_ids":[2,33,64,95,126,157,188,219,250,281,312,343,374,405,436,467,498,20,51,82,113,144,175,206,237,268,299,330,361,392,423,454]},"phases":[{"phase":"program_load","duration_ns":93259,"iterations":1,"memory":{"vm_hwm_bytes":7000064,"ru_maxrss_bytes":9977856,"rss_bytes":7000064,"rss_anon_bytes":458752,"rss_file_bytes":6541312,"minor_faults":4,"major_faults":0,"peak_reset":true}},{"phase":"method_load","duration_ns":9903503,"iterations":1,"memory":{"vm_hwm_bytes":14360576,"ru_maxrss_bytes":14360576,"rss_bytes":13541376,"rss_anon_bytes":6246400,"rss_file_bytes":7294976,"minor_faults":1650,"major_faults":0,"peak_reset":true}},{"phase":"first_forward","duration_ns":5280179,"iterations":1,"memory":{"vm_hwm_bytes":18956288,"ru_maxrss_bytes":18792448,"rss_bytes":18956288,"rss_anon_bytes":6520832,"rss_file_bytes":12435456,"minor_faults":144,"major_faults":0,"peak_reset":true}},{"phase":"warmup","duration_ns":11585742,"iterations":3,"memory":{"vm_hwm_bytes":18956288,"ru_maxrss_bytes":18792448,"rss_bytes":18956288,"rss_anon_bytes":6520832,"rss_file_bytes":12435456,"minor_faults":0,"major_faults":0,"peak_reset":true}},{"phase":"timed","duration_ns":18825340,"iterations":5,"memory":{"vm_hwm_bytes":18956288,"ru_maxrss_bytes":18792448,"rss_bytes":18956288,"rss_anon_bytes":6520832,"rss_file_bytes":12435456,"minor_faults":0,"major_faults":0,"peak_reset":true}}],"samples":{"first_forward_ns":5279418,"warmup_ns":[4002793,3890025,3688086],"timed_ns":[3755666,3664060,3838289,3765872,3793853]},"outputs":[{"index":0,"sizes":[1,32,2048],"dtype":"float32","nan_count":0,"inf_count":0,"argmax_last":1869,"sum":-28.78135032156024}],"output_verdict":{"verdict":"matches_manifest"},"summary":{"latency_ns":{"n":5,"median":3765872.0,"p10":3700702.4,"p90":3820514.6,"p99":3836511.56,"min":3664060.0,"max":3838289.0,"mean":3763548.0,"stddev":64167.74725280606,"cv":0.0170498017436754,"trimmed_mean_10":3763548.0,"outliers":[{"index":1,"value":3664060.0,"class":"low_mild"}]},"program_load_ns":93259,"method_load_ns":9903503,"first_forward_ns":5279418,"tokens_per_forward":32,"prefill_tokens_per_s":{"median":8497.367940280497,"p10":8375.835024946638,"p90":8647.007119513311},"decode_equivalent_tokens_per_s":{"median":265.54274813376554,"p10":261.74484452958245,"p90":270.218972484791},"peak_rss_bytes":18956288,"peak_rss_phase":"timed","max_rss_anon_bytes":6520832,"max_rss_file_bytes":12435456,"major_faults":0,"roofline":{"weight_bytes":6294016,"achieved_bytes_per_s":1671330305.4378905,"device_bytes_per_s":null}},"conditions":[{"when":"before","cpus":[{"cpu":0,"cur_khz":null,"max_khz":null,"governor":null},{"cpu":1,"cur_khz":null,"max_khz":null,"governor":null}],"thermal_zones":[],"batteries":[],"thermal_gate":null,"memory_limit":null,"memory_bandwidth_bytes_per_s":null},{"when":"after","cpus":[{"cpu":0,"cur_khz":null,"max_khz":null,"governor":null},{"cpu":1,"cur_khz":null,"max_khz":null,"governor":null}],"thermal_zones":[],"batteries":[],"thermal_gate":null,"memory_limit":null,"memory_bandwidth_bytes_per_s":null}],"memory_fit":{"planned_bytes":499776,"file_bytes":6294016,"available_bytes":24054939648,"fits":true}}', 'model AMD EPYC', 'vm', NULL);
INSERT INTO public.runs OVERRIDING SYSTEM VALUE VALUES (3, 'local (model AMD EPYC) on vm | gemma3n-tiny-xnnpack-fp32 0311d1aff35d | forward | t1 | mmap | input 32 ids, fnv1a:c5608c19 | etbench 0.1.0 | ExecuTorch 1.5.1+cpu', 'local', 'gemma3n-tiny-xnnpack-fp32', '0311d1aff35d8dac494af6cb8edc66759fe368e54b275739170feeb653f54512', 'forward', '1', 'mmap', '32 ids, fnv1a:c5608c19', '0.1.0', '1.5.1+cpu', 'local/gemma3n-tiny-xnnpack-fp32/mmap/t1/r0', '2026-12-08T04:35:54.973772155+00:00', '2026-12-08T04:35:54.976193219+00:00', 'n3/results.json', 3545354, '{"id":"local/gemma3n-tiny-xnnpack-fp32/mmap/t1/r0","device":{"name":"local","transport":"local","info":{"hostname":"vm","os":"Debian GNU/Linux","os_version":"12","kernel":"6.18.44-fc-v1374","arch":"x86_64","cpu_brand":"AMD EPYC","cpu_logical_cores":2,"cpu_physical_cores":2,"memory_total_bytes":25276162048}},"model":{"path":"/work/main/models/gemma3n-tiny-xnnpack-fp32.pte","name":"gemma3n-tiny-xnnpack-fp32","size_bytes":6294016,"sha256":"0311d1aff35d8dac494af6cb8edc66759fe368e54b275739170feeb653f54512"},"params":{"spec":{"method":"forward","load_mode":"mmap","warmup":3,"iterations":5,"threads":1,"gate_timeout_s":300.0,"cpu_affinity":"0x2","min_iterations":3,"heartbeat_s":10.0},"repeat_index":0,"repeats":1},"started_at":"2026-12-08T04:35:54.976193219Z","status":"ok","error":null,"runner":{"debug_build":false,"runner_version":"0.1.0","executorch_version":"1.5.1+cpu","target_triple":"x86_64-unknown-linux-gnu","threads_effective":1,"inputs":[{"dtype":"int64","sizes":[1,32]}],"outputs":[{"dtype":"float32","sizes":[1,32,2048]}],"inputs_used":[{"index":0,"spec":"ids","dtype":"int64","sizes":[1,32],"sha256":"cb75efdf0a12d2c10cffe9f6171951c2bb12deaee461856710eac66db6a69f1e"}],"input_ids":[2,33,64,95,126,157,188,219,250,281,312,343,374,405,436,467,498,20,51,82,113,144,175,206,237,268,299,330,361,392,423,454]},"phases":[{"phase":"program_load","duration_ns":56915,"iterations":1,"memory":{"vm_hwm_bytes":7065600,"ru_maxrss_bytes":10067968,"rss_bytes":7065600,"rss_anon_bytes":458752,"rss_file_bytes":6606848,"minor_faults":4,"major_faults":0,"peak_reset":true}},{"phase":"method_load","duration_ns":9300318,"iterations":1,"memory":{"vm_hwm_bytes":14364672,"ru_maxrss_bytes":14364672,"rss_bytes":13606912,"rss_anon_bytes":6246400,"rss_file_bytes":7360512,"minor_faults":1649,"major_faults":0,"peak_reset":true}},{"phase":"first_forward","duration_ns":4938382,"iterations":1,"memory":{"vm_hwm_bytes":19021824,"ru_maxrss_bytes":18923520,"rss_bytes":19021824,"rss_anon_bytes":6520832,"rss_file_bytes":12500992,"minor_faults":144,"major_faults":0,"peak_reset":true}},{"phase":"warmup","duration_ns":10851551,"iterations":3,"memory":{"vm_hwm_bytes":19021824,"ru_maxrss_bytes":18923520,"rss_bytes":19021824,"rss_anon_bytes":6520832,"rss_file_bytes":12500992,"minor_faults":0,"major_faults":0,"peak_reset":true}},{"phase":"timed","duration_ns":17760910,"iterations":5,"memory":{"vm_hwm_bytes":19021824,"ru_maxrss_bytes":18923520,"rss_bytes":19021824,"rss_anon_bytes":6520832,"rss_file_bytes":12500992,"minor_faults":0,"major_faults":0,"peak_reset":true}}],"samples":{"first_forward_ns":4937671,"warmup_ns":[3588828,3653023,3545584],"timed_ns":[3499666,3556771,3627826,3523361,3545354]},"outputs":[{"index":0,"sizes":[1,32,2048],"dtype":"float32","nan_count":0,"inf_count":0,"argmax_last":1869,"sum":-28.78135032156024}],"output_verdict":{"verdict":"matches_manifest"},"summary":{"latency_ns":{"n":5,"median":3545354.0,"p10":3509144.0,"p90":3599404.0,"p99":3624983.8,"min":3499666.0,"max":3627826.0,"mean":3550595.6,"stddev":48388.253257376426,"cv":0.013628207407618154,"trimmed_mean_10":3550595.6,"outliers":[{"index":2,"value":3627826.0,"class":"high_mild"}]},"program_load_ns":56915,"method_load_ns":9300318,"first_forward_ns":4937671,"tokens_per_forward":32,"prefill_tokens_per_s":{"median":9025.896990822355,"p10":8890.360737499876,"p90":9119.033017738799},"decode_equivalent_tokens_per_s":{"median":282.0592809631986,"p10":277.8237730468711,"p90":284.96978180433746},"peak_rss_bytes":19021824,"peak_rss_phase":"timed","max_rss_anon_bytes":6520832,"max_rss_file_bytes":12500992,"major_faults":0,"roofline":{"weight_bytes":6294016,"achieved_bytes_per_s":1775285627.3308673,"device_bytes_per_s":null}},"conditions":[{"when":"before","cpus":[{"cpu":0,"cur_khz":null,"max_khz":null,"governor":null},{"cpu":1,"cur_khz":null,"max_khz":null,"governor":null}],"thermal_zones":[],"batteries":[],"thermal_gate":null,"memory_limit":null,"memory_bandwidth_bytes_per_s":null},{"when":"after","cpus":[{"cpu":0,"cur_khz":null,"max_khz":null,"governor":null},{"cpu":1,"cur_khz":null,"max_khz":null,"governor":null}],"thermal_zones":[],"batteries":[],"thermal_gate":null,"memory_limit":null,"memory_bandwidth_bytes_per_s":null}],"memory_fit":{"planned_bytes":499776,"file_bytes":6294016,"available_bytes":24050892800,"fits":true}}', 'model AMD EPYC', 'vm', NULL);


--
-- Data for Name: samples; Type: TABLE DATA; Schema: public; Owner: -
--

INSERT INTO public.samples VALUES (1, 0, 3842815);
INSERT INTO public.samples VALUES (1, 1, 3473266);
INSERT INTO public.samples VALUES (1, 2, 3520286);
INSERT INTO public.samples VALUES (1, 3, 3420689);
INSERT INTO public.samples VALUES (1, 4, 3564863);
INSERT INTO public.samples VALUES (2, 0, 3755666);
INSERT INTO public.samples VALUES (2, 1, 3664060);
INSERT INTO public.samples VALUES (2, 2, 3838289);
INSERT INTO public.samples VALUES (2, 3, 3765872);
INSERT INTO public.samples VALUES (2, 4, 3793853);
INSERT INTO public.samples VALUES (3, 0, 3499666);
INSERT INTO public.samples VALUES (3, 1, 3556771);
INSERT INTO public.samples VALUES (3, 2, 3627826);
INSERT INTO public.samples VALUES (3, 3, 3523361);
INSERT INTO public.samples VALUES (3, 4, 3545354);


--
-- Name: runs_id_seq; Type: SEQUENCE SET; Schema: public; Owner: -
--

SELECT pg_catalog.setval('public.runs_id_seq', 3, true);


--
-- Name: meta meta_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.meta
    ADD CONSTRAINT meta_pkey PRIMARY KEY (name);


--
-- Name: runs runs_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.runs
    ADD CONSTRAINT runs_pkey PRIMARY KEY (id);


--
-- Name: runs runs_series_run_id_started_at_key; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.runs
    ADD CONSTRAINT runs_series_run_id_started_at_key UNIQUE (series, run_id, started_at);


--
-- Name: samples samples_pkey; Type: CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.samples
    ADD CONSTRAINT samples_pkey PRIMARY KEY (run, iteration);


--
-- Name: runs_by_series_time; Type: INDEX; Schema: public; Owner: -
--

CREATE INDEX runs_by_series_time ON public.runs USING btree (series, started_at);


--
-- Name: samples samples_run_fkey; Type: FK CONSTRAINT; Schema: public; Owner: -
--

ALTER TABLE ONLY public.samples
    ADD CONSTRAINT samples_run_fkey FOREIGN KEY (run) REFERENCES public.runs(id);


--
-- PostgreSQL database dump complete
--


